"""The packer's board: a web page of the watched postings by urgency, with acknowledge, hold
and release buttons (CONTRACT section 7, issue 18).

- `settings`: the `[board]` config section and its checks, the token's sources (the config
  model imports it, so it imports only pydantic, the standard library and daemon.secrets).
- `texts`: the page's words in en / zh / ru.
- `auth`: the board token, the login session cookie and its CSRF token.
- `data`: what the endpoints read and write, through the store, daemon.hold and daemon.views.
- `app`: the Starlette application (routes, Jinja2 templates, static files, security headers).
- `server`: uvicorn serving the app as a task of the daemon's own asyncio loop, built from a
  config for `run`, `board` and `demo`.

Templates (`templates/`) and scripts and styles (`static/`) ship inside the package: the page
loads nothing from anywhere else. This package file imports nothing, so that importing
`daemon.web.settings` (the config does) does not load Starlette.
"""
