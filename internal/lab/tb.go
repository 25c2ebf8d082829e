package lab

// TB is the part of testing.TB that the lab, the benchmarks and the demo use: a *testing.T
// or *testing.B satisfies it, so tests pass theirs, and [Standalone] supplies one for
// programs that are not tests. Keeping it to what is called lets Standalone implement every
// method a caller can reach, rather than embed a nil testing.TB that panics on the rest.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(f func())
	TempDir() string
}
