"""csqa serve: the review desk in a browser — server-rendered pages over the results store, with users,
roles, sessions and CSRF tokens (see the README's "csqa serve" section).

    csqa/web/
      cli.py          `csqa serve`, `csqa users add/list/disable/enable/password`
      server.py       binding (127.0.0.1 unless told otherwise), uvicorn, the start line
      app.py          the Starlette app: routes, static files, security headers, allowed hosts
      auth.py         session cookie, CSRF, roles (`guarded`), refusals
      access.py       row checks: which conversations and agents a user may see
      accounts.py     users (scrypt), sessions and audit rows in the store's own tables
      throttle.py     login throttling per user name and per address, with back-off
      db.py           the one connection: cursors per thread for reads, one locked writer
      queries.py      what the pages read from the store
      render.py       highlighting, masking and charts borrowed from the report stage
      routes/         one module per page (login, overview, agents, conversations, review, admin)
      templates/      Jinja2 (autoescape on everywhere), static/ one stylesheet and one small script
"""
