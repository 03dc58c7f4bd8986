from nagen.cli import main

raise SystemExit(main())
