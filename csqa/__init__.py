"""csqa — 客服会话质检: scores Chinese customer-service chats against written service standards."""

__version__ = "0.1.0"
