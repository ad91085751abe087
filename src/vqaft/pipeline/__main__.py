"""``python -m vqaft.pipeline run|demo ...``: the experiment commands on their own."""

from vqaft.pipeline._cli import main

raise SystemExit(main())
