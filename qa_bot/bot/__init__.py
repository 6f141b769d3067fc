"""Telegram front end of qa-bot (python-telegram-bot v22).

Only this package imports `telegram`; `qa_bot.bot.commands` defers those imports into the command
bodies so the other CLI commands never load the Telegram stack.
"""
