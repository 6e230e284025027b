"""`reportgen serve`: the built site on a local web server, until Ctrl-C; with --watch, rebuilt on every
edit (reportgen.watch)."""
from __future__ import annotations

import functools
import http.server

from ..errors import UserError
from ..project import Project


def main(args, project: Project) -> int:
    from ..site import built_site_url
    if args.full and not args.watch:
        raise UserError("--full goes with --watch (it says how long a rebuild measures)")
    if args.watch:
        from ..watch import serve
        return serve(project, args.host, args.port, quick=not args.full, phase_ids=args.phase)
    if args.phase:
        raise UserError("--phase goes with --watch (the phases a rebuild measures)")
    site_dir = project.site_dir
    if not (site_dir / "index.html").exists():
        raise UserError(f"no built site in {site_dir}: run `reportgen site` (or `reportgen publish`) first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    try:
        httpd = http.server.ThreadingHTTPServer((args.host, args.port), handler)
    except OSError as exc:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {exc.strerror} (try --port)") from None
    url = f"http://{args.host}:{httpd.server_address[1]}/"
    print(f"serving {site_dir} at {url} (Ctrl-C stops)")
    built_for = built_site_url(site_dir)
    if built_for and built_for.rstrip("/") != url.rstrip("/"):
        print(f"note: the site was built for {built_for}; elsewhere page links load whole pages "
              "instead of the theme's instant navigation")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
