package telemetry

// Unexported helpers the tests check directly.
var (
	FormatTraceparent = traceparent
	Sampled           = sampled
)
