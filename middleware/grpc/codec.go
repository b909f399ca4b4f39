package grpccache

// MarshalBinary encodes e in binary form: cached responses encode themselves, so any tiered cache
// holds them whatever its codec.
func (e *entry) MarshalBinary() ([]byte, error) { return e.appendBinary(nil) }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (e *entry) UnmarshalBinary(data []byte) error {
	d, err := decodeEntry(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}
