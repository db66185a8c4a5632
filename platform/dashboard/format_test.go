package dashboard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFormats(t *testing.T) {
	assert.Equal(t, "512 B", FormatBytes(512))
	assert.Equal(t, "1.5 KiB", FormatBytes(1536))
	assert.Equal(t, "3.0 MiB", FormatBytes(3<<20))
	assert.Equal(t, "1,234,567", FormatCount(1234567))
	assert.Equal(t, "-1,000", FormatCount(-1000))
	assert.Equal(t, "999", FormatCount(999))
	assert.Equal(t, "just now", Ago(300*time.Millisecond))
	assert.Equal(t, "3 min", Ago(3*time.Minute+10*time.Second))
	assert.Equal(t, "2 d", Ago(50*time.Hour))
	assert.Equal(t, "1.50 ms", FormatMillis(1500*time.Microsecond))
	assert.Equal(t, "—", FormatTime(time.Time{}))
}
