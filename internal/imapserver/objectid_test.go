package imapserver

// withObjectIDKey gives a server the key that turns OBJECTID on.
func withObjectIDKey(c *Config) { c.ObjectIDKey = []byte("objectid test key, 32 octets...") }
