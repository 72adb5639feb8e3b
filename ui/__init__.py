"""The Chainlit front end: the only code that imports Chainlit (``chat_app.py`` aside).

- :mod:`ui.render`: the assistant's events as messages, steps and elements;
  the code-approval buttons.
- :mod:`ui.panel`: the settings panel.
- :mod:`ui.data_layer`: Chainlit's tables (SQLite or PostgreSQL) and file storage.
- :mod:`ui.file_route`: the route serving stored files to their owner.
- :mod:`ui.login`: the one-click login link's route.
"""
