"""The desk's routes, one module per page (or group of pages)."""
from csqa.web.routes import admin, agents, conversations, login, overview, review

ROUTES = [*login.ROUTES, *overview.ROUTES, *agents.ROUTES, *conversations.ROUTES, *review.ROUTES, *admin.ROUTES]
