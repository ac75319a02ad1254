from kestrad.cli import main

raise SystemExit(main())
