package bench

//go:generate go run github.com/tinylib/msgp@v1.6.5 -file record.go -o record_msgp.go -tests=false

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Record is the value every workload caches: a product record of about 1 KiB in JSON, with
// strings, integers, a float, a bool, times, a slice of strings, a small map, a nested struct and
// a slice of nested structs.
//
// Its fields carry the same names in the json and msgpack tags (the CBOR encoder reads the json
// tags), so that no codec is handicapped by longer keys.
type Record struct {
	ID          int64             `json:"id" msgpack:"id"`
	SKU         string            `json:"sku" msgpack:"sku"`
	Name        string            `json:"name" msgpack:"name"`
	Description string            `json:"description" msgpack:"description"`
	PriceCents  int64             `json:"price_cents" msgpack:"price_cents"`
	Currency    string            `json:"currency" msgpack:"currency"`
	Stock       int32             `json:"stock" msgpack:"stock"`
	Rating      float64           `json:"rating" msgpack:"rating"`
	Active      bool              `json:"active" msgpack:"active"`
	Tags        []string          `json:"tags" msgpack:"tags"`
	Attributes  map[string]string `json:"attributes" msgpack:"attributes"`
	Seller      Seller            `json:"seller" msgpack:"seller"`
	Variants    []Variant         `json:"variants" msgpack:"variants"`
	CreatedAt   time.Time         `json:"created_at" msgpack:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at" msgpack:"updated_at"`
}

// Seller is the nested struct of a Record.
type Seller struct {
	ID       int64     `json:"id" msgpack:"id"`
	Name     string    `json:"name" msgpack:"name"`
	Email    string    `json:"email" msgpack:"email"`
	Country  string    `json:"country" msgpack:"country"`
	Verified bool      `json:"verified" msgpack:"verified"`
	JoinedAt time.Time `json:"joined_at" msgpack:"joined_at"`
}

// Variant is one purchasable form of a Record.
type Variant struct {
	SKU        string `json:"sku" msgpack:"sku"`
	Color      string `json:"color" msgpack:"color"`
	Size       string `json:"size" msgpack:"size"`
	PriceCents int64  `json:"price_cents" msgpack:"price_cents"`
	Stock      int32  `json:"stock" msgpack:"stock"`
}

var words = strings.Fields(`the a durable lightweight everyday jacket made from recycled nylon with
a water repellent finish two zip pockets adjustable hood and elastic cuffs packs into its own
pocket for travel machine washable cold tumble dry low fits true to size model is wearing a
medium designed in small batches shipped within two business days from our warehouse returns
accepted for thirty days in original condition`)

var colors = []string{"black", "navy", "olive", "sand", "red", "grey"}

// NewRecord returns the record of id: the same id always gives the same record, and records of
// different ids differ in their text, numbers and times.
func NewRecord(id int64) Record {
	r := rand.New(rand.NewPCG(uint64(id), 0x5eed))
	var desc strings.Builder
	for desc.Len() < 280 {
		if desc.Len() > 0 {
			desc.WriteByte(' ')
		}
		desc.WriteString(words[r.IntN(len(words))])
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24*3600)) * time.Second)
	rec := Record{
		ID:          id,
		SKU:         fmt.Sprintf("JKT-%06d", id),
		Name:        fmt.Sprintf("Packable rain jacket %d", id),
		Description: desc.String(),
		PriceCents:  4900 + int64(r.IntN(10000)),
		Currency:    "EUR",
		Stock:       int32(r.IntN(500)),
		Rating:      float64(r.IntN(50)) / 10,
		Active:      true,
		Tags:        []string{"outerwear", "rain", "packable", "recycled"},
		Attributes:  map[string]string{"material": "recycled nylon", "fit": "regular", "care": "machine wash cold"},
		Seller: Seller{
			ID:       1000 + id%97,
			Name:     fmt.Sprintf("Seller %d", id%97),
			Email:    fmt.Sprintf("shop%d@example.com", id%97),
			Country:  "DE",
			Verified: id%3 != 0,
			JoinedAt: created.Add(-400 * 24 * time.Hour),
		},
		CreatedAt: created,
		UpdatedAt: created.Add(time.Duration(r.IntN(90*24)) * time.Hour),
	}
	for i, c := range colors[:3] {
		rec.Variants = append(rec.Variants, Variant{
			SKU:        fmt.Sprintf("%s-%s", rec.SKU, strings.ToUpper(c[:3])),
			Color:      c,
			Size:       []string{"S", "M", "L"}[i],
			PriceCents: rec.PriceCents,
			Stock:      int32(r.IntN(100)),
		})
	}
	return rec
}
