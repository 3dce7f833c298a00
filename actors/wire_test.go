package actors

import (
	"strconv"
	"testing"
)

func TestSecondsRendersMicrosExactly(t *testing.T) {
	for _, tc := range []struct {
		micros int64
		want   string
	}{
		{0, "0"},
		{1_500_000, "1.5"},
		{1_000_001, "1.000001"},
		{999_999, "0.999999"},
		{1_764_175_200_123_456, "1764175200.123456"},
		{1_764_175_200_000_000, "1764175200"},
		{1_764_175_200_120_000, "1764175200.12"},
		{-1_500_000, "-1.5"},
	} {
		got := seconds(tc.micros)
		if string(got) != tc.want {
			t.Errorf("seconds(%d) = %s, want %s", tc.micros, got, tc.want)
		}
		f, err := strconv.ParseFloat(string(got), 64)
		if err != nil || f != float64(tc.micros)/1e6 {
			t.Errorf("seconds(%d) = %s reads back as %v (%v), want %v", tc.micros, got, f, err, float64(tc.micros)/1e6)
		}
	}
}
