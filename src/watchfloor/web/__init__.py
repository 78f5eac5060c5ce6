"""The analyst console: server-rendered pages over the cases service, and the console's security.

Modules: `app` (mounting on the API application, routing a browser's `GET /`), `auth` (sessions in
cookies, roles per page, CSRF), `security` (headers on every response, denials to the audit log),
`config` (`[auth]` settings), `render` (Jinja2), and one module per page group (`routes_auth`,
`queues`, `incident`, `dashboards`). Templates and static assets ship in the package: nothing is loaded
from another origin, so the console works offline.
"""

from watchfloor.web.app import install_console
from watchfloor.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, CsrfRejected, Guard, Viewer
from watchfloor.web.config import ConsoleConfig, auth_policy
from watchfloor.web.security import SecurityMiddleware

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "ConsoleConfig",
    "CsrfRejected",
    "Guard",
    "SecurityMiddleware",
    "Viewer",
    "auth_policy",
    "install_console",
]
