package loadgen

import (
	"os"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tchatnode\nVmPeak:\t  900 kB\nVmRSS:\t   123456 kB\nThreads:\t9\n"
	if got, err := parseVmRSS(strings.NewReader(status)); err != nil || got != 123456*1024 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVmRSS(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadRSSOfThisProcess(t *testing.T) {
	v, err := ReadRSS(os.Getpid())
	if err != nil || v <= 0 {
		t.Fatalf("%d, %v", v, err)
	}
	if _, err := ReadRSS(1 << 30); err == nil {
		t.Fatal("a process that does not exist has memory")
	}
}

func TestParseMetricsRSS(t *testing.T) {
	body := `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes_total 1
process_resident_memory_bytes{node="a"} 2.5e+07
`
	if got, err := parseMetricsRSS([]byte(body)); err != nil || got != 25_000_000 {
		t.Fatalf("got %d, %v", got, err)
	}
	if got, err := parseMetricsRSS([]byte("process_resident_memory_bytes 4096\n")); err != nil || got != 4096 {
		t.Fatalf("plain: %d, %v", got, err)
	}
	if _, err := parseMetricsRSS([]byte("go_goroutines 5\n")); err == nil {
		t.Fatal("missing metric accepted")
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
