"""Lets ``python -m bot`` run the graphbot command."""

from bot.cli import main

raise SystemExit(main())
