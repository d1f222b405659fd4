"""The entry floor: the processes people run (the CLI, `signalloop run`'s HTTP server and Socket Mode, the demo)
and the one place that imports Bolt and builds the app. Wiring only: the work is in handlers/, bot/ and storage/."""
