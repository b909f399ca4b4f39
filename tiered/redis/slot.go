package redistier

import (
	"strings"
	"time"
)

// minTTL is the shortest expiry sent to Redis: PX takes whole milliseconds.
const minTTL = time.Millisecond

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// Slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of the key, or of its hash tag
// (the part between the first "{" and the next "}" when that part is not empty), modulo 16384.
func Slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for n := 0; n < len(key); n++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[n]]
	}
	return crc % SlotCount
}

// crc16Table is the table of CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0).
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
