package bench

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestRecordSize keeps the workload honest: a record is about 1 KiB of JSON, and records are
// deterministic per id and differ between ids.
func TestRecordSize(t *testing.T) {
	for _, id := range []int64{1, 42, 99_999} {
		b, err := json.Marshal(NewRecord(id))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 900 || len(b) > 1200 {
			t.Errorf("record %d is %d bytes of JSON, want about 1 KiB", id, len(b))
		}
	}
	if !reflect.DeepEqual(NewRecord(7), NewRecord(7)) {
		t.Error("NewRecord is not deterministic")
	}
	if reflect.DeepEqual(NewRecord(7), NewRecord(8)) {
		t.Error("records of different ids are equal")
	}
}
