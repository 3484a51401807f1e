"""``python -m otel_llm``: the ``otel-llm`` command."""

from .cli import main

raise SystemExit(main())
