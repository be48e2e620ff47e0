"""Server configuration for the Galata UI tests (started by playwright's webServer)."""

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 (c is injected by the config loader)

# Keep the test server quiet and self-contained.
c.ServerApp.open_browser = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# CI and the project's machines run as root.
c.ServerApp.allow_root = True
