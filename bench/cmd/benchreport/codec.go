package main

import (
	"fmt"
	"strings"
)

// codecNames are the codecs of BenchmarkCodecs, in the order of the table.
var codecNames = []struct{ id, title string }{
	{"json", "encoding/json"},
	{"gojson", "goccy/go-json v0.12.0"},
	{"sonic", "bytedance/sonic v1.15.5"},
	{"msgpack", "vmihailenco/msgpack v5.4.1"},
	{"msgpack-s2", "msgpack v5.4.1 + s2 (as go-redis/cache)"},
	{"shamaton", "shamaton/msgpack v3.1.0"},
	{"cbor", "fxamacker/cbor v2.10.0, defaults"},
	{"cbor-nano", "fxamacker/cbor v2.10.0, RFC 3339 nano times"},
	{"gob", "encoding/gob, one encoder per value"},
	{"msgp", "tinylib/msgp v1.6.5, generated code"},
}

// codecTable is the codec study's table, from the BenchmarkCodecs rounds; empty without them.
func codecTable(runs []run) string {
	var rs []run
	for _, r := range runs {
		if r.bench == "Codecs" {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Codecs on the 1 KiB record, interleaved; median of %d rounds. ÷ json: the codec's time ÷ encoding/json's in the same round (below 1: faster than encoding/json), with its spread.\n\n", len(rs))
	b.WriteString("| codec | encode | decode | decode ÷ json | encode+decode ÷ json | allocs enc / dec | bytes allocated enc / dec | encoded size |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, c := range codecNames {
		var enc, dec, decR, sumR, aEnc, aDec, bEnc, bDec, size []float64
		for _, r := range rs {
			e, okE := r.metrics[c.id+"-enc-ns/op"]
			d, okD := r.metrics[c.id+"-dec-ns/op"]
			je, jd := r.metrics["json-enc-ns/op"], r.metrics["json-dec-ns/op"]
			if !okE || !okD || je == 0 || jd == 0 {
				continue
			}
			enc, dec = append(enc, e), append(dec, d)
			decR, sumR = append(decR, d/jd), append(sumR, (e+d)/(je+jd))
			aEnc, aDec = append(aEnc, r.metrics[c.id+"-enc-allocs/op"]), append(aDec, r.metrics[c.id+"-dec-allocs/op"])
			bEnc, bDec = append(bEnc, r.metrics[c.id+"-enc-B/op"]), append(bDec, r.metrics[c.id+"-dec-B/op"])
			size = append(size, r.metrics[c.id+"-bytes"])
		}
		if len(enc) == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.0f / %.0f | %.0f / %.0f | %.0f B |\n", c.title,
			duration(statOf(enc).median), duration(statOf(dec).median), ratio(statOf(decR)), ratio(statOf(sumR)),
			statOf(aEnc).median, statOf(aDec).median, statOf(bEnc).median, statOf(bDec).median, statOf(size).median)
	}
	return b.String()
}
