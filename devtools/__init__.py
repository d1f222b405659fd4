"""Development tools: a Slack-compatible Web API server for the demo, the tests and the benchmarks."""
