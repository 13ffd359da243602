package arc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/dns"
	"postel/internal/dns/dnstest"
)

// Interoperability: messages sealed by other implementations, verified
// through a test DNS server publishing their keys.

// valiMailKeys are the key records of the ValiMail ARC test suite
// (https://github.com/ValiMail/arc_test_suite, txt-records of
// tests/arc-draft-validation-tests.yml, commit f137dcb9d6d5); the white
// space inside p= is the YAML folding of the suite, which RFC 6376 §3.6.1
// allows.
var valiMailKeys = map[string]string{
	"dummy._domainkey.example.org":   "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lx j+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
	"512._domainkey.example.org":     "v=DKIM1; k=rsa; p= MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAIWmlgix/84GJ+dfgjm7LTc9EPdfk ftlgiPpCq4/kbDAZmU0VvYKDljjleJ1dfvS+CGy9U/kk1tG3EeEvb82xAcCAwEAAQ==",
	"2048._domainkey.example.org":    "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv+7VkwpTtICeJFM4Hf UZsvv2OaA+QMrW9Af1PpTOzVP0uvUFK20lcaxMvt81ia/sGYW4gHp/WUIk0BIQMPVhUeCIuM1mcOQNFS OflR8pLo916rjEZXpRP/XGo4HwWzdqD2qQeb3+fv1IrzfHiDb9THbamoz05EX7JX+wVSAhdSW/igwhA/ +beuzWR0RDDyGMT1b1Sb/lrGfwSXm7QoZQtj5PRiTX+fsL7WlzL+fBThySwS8ZBZcHcd8iWOSGKZ0gYK zxyuOf8VCX71C4xDhahN+HXWZFn9TZb+uZX9m+WXM3t+P8CdfxsaOdnVg6imgNDlUWX4ClLTZhco0Kmi BU+QIDAQAB",
	"dummy2._domainkey.example2.org": "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDR3lRpGZS+xO96Znv/BPNQxi m7ZD0v6yFmZa9Rni5FHCeWuQwcp+PH/XXOyF6JsmB+kS0ybxJnx594ulqH2KvLMNsGAD+yRl2bJSXbBH ea7K9C5WX8Vjx3oPoGgw7QCONptnjUsbIIoxUZBEUe17eG44H/PbDqGwCBiyI20KEC/wIDAQAB",
}

// dkimpyKeys are the public keys of testdata/dkimpy: python.example's was
// dkimpy's sealing key, the other two those of Postel's sealers for the
// first sets of chain-i3.eml.
var dkimpyKeys = map[string]string{
	"py._domainkey.python.example":            "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqXDWBmEVP/1PT9iJYFR0yA/RmKbt4CTzfTL/ca8jd/aZShb15n+Xie1Sv9quViw9kRDa8kiN92uZtGV98hmsuFCyIAVOgD9e7oRXteQthqbzwL38tFPg9svr/REUUGnH0LE8GghZKzjNxMeid8QclscxEEu5kWm8jT/V0FNXN9KHxN/2lUxJpiEbjWsP98okLw4dgIZJWyrxbvdAUyGDzWETBYNvjHOb/w3NyLUneK79kdJF91pEH66q0QcvN39IDCM1vJwO/noMD5w3mFicmfIClg6mW995Snb+aUwdCxNIJhvQQpw4nxgggX0MUShh3zT3dq1TF6oHVodVcVqKSwIDAQAB",
	"postel-rsa._domainkey.lists.example.org": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtPElymE5AFyL7j/AHWgRuWa8BsOjaEgJbqq2T2dCbJcsnv7P1SQ1tTDHOGROh0Ae01JPNpijbA8M1BSc4E5cbqXdKhmeRzPdwHfWROQkfWS+IyGNI8mhEUNzdjLX0mPHpWWwWna0+twLWqM+dCzp8lpXip3XbrSY1xqjIQcDatn9JGuShy1N/Rnokz3rtsw9uLbNU/CO5lD4ogH6jYTTd5zU8RaP8olssEkObgGNcaNR3yWBLE9vf5btv+nkhpmSp27bOtLOOEZ5W5+e2N+P2+NczexiIF6YQLazCawwPuswwJJaCoSDX+DrVD7/Yw6odB98VTrLtpkFlq9NLmnYgwIDAQAB",
	"arc2._domainkey.forward.example":         "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAweSQHxsIWPUV5y0XCY2eAOwZBklwQM2R4+VKu00gd2fxuljbX7AXSXfTonmw6aKBeJRpVcJ7w160K7Sv+XTg7eQPUzMvvFAXRMna6e14XzkrxLHYt0VpR0IPIr9M3Rp+yyxoS9t+XLIpRS+KLdv1hkneRp+zYCWzX4cia7KbmOUx9+aS0FzgC2Q/Mz1MGuFMMHGEG6JtVbDKXipr6h9AYR9j5jwp0bLENFXN3tXP0Dm42hrJsnyaY79CIs+8+EG74uN3mCDGt8ThNOOFFlHGOWrES+1xKeHQp3HxR0nvWV/7EPpNymBHQ5SV49jH5nmhAURjAuoJHGmTg/lLhsC3BQIDAQAB",
}

func interopEnv(t *testing.T) Options {
	srv := dnstest.New(t)
	for _, m := range []map[string]string{valiMailKeys, dkimpyKeys} {
		for name, v := range m {
			srv.Add(txtRecord(name, v))
		}
	}
	client, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return Options{LookupTXT: client.LookupTXT}
}

// TestValiMailVectors verifies messages of the ValiMail ARC test suite
// (testdata/valimail/README), each with the status the suite expects.
// Their LF line ends are tried as stored and as the CRLF of the wire.
func TestValiMailVectors(t *testing.T) {
	opts := interopEnv(t)
	tests := []struct {
		file, status string
		sealers      string // pass: d= of the seals; fail: the reason
	}{
		{"cv_base1", "none", ""},
		{"cv_pass_i1_1", "pass", "example.org"},
		{"cv_pass_i2_2", "pass", "example.org example.org"},
		{"cv_pass_i5_1", "pass", "example.org example.org example.org example.org example.org"},
		{"ams_fields_c_ss", "pass", "example.org"},             // simple/simple
		{"ams_fields_bh_sim_end_lines", "pass", "example.org"}, // simple body, trailing lines
		{"as_fields_b_2048", "pass", "example.org"},            // 2048-bit key
		{"ams_as_diff_s_d", "pass", "example2.org"},            // AS and AMS by other keys
		{"cv_fail_i2_as2_invalid", "fail", "ARC-Seal i=2: signature does not verify"},
		{"as_fields_b_ams1", "fail", "ARC-Seal i=1: signature does not verify"}, // AMS 1 changed
		{"ams_fields_b_mod_headers1", "fail", "ARC-Message-Signature i=1: signature does not verify"},
		{"as_fields_b_512", "fail", "ARC-Message-Signature i=1: key 512._domainkey.example.org: RSA key of 512 bits (RFC 8301 §3.2: at least 1024)"},
		{"public_key_na", "fail", "ARC-Seal i=1: no key record at na._domainkey.example.org"},
	}
	for _, tt := range tests {
		raw, err := os.ReadFile(filepath.Join("testdata", "valimail", tt.file+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{string(raw), strings.ReplaceAll(string(raw), "\n", "\r\n")} {
			checkVector(t, tt.file, msg, opts, tt.status, tt.sealers)
		}
	}
}

// TestDkimpyVectors verifies messages sealed by dkimpy (testdata/dkimpy/README),
// one on top of two sets of our own.
func TestDkimpyVectors(t *testing.T) {
	opts := interopEnv(t)
	for _, tt := range []struct{ file, sealers string }{
		{"dkimpy-i1", "python.example"},
		{"chain-i3", "lists.example.org forward.example python.example"},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "dkimpy", tt.file+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		checkVector(t, tt.file, string(raw), opts, "pass", tt.sealers)
		// The newest AMS covers the body.
		n := len(strings.Fields(tt.sealers))
		checkVector(t, tt.file, string(raw)+"more\r\n", opts, "fail",
			fmt.Sprintf("ARC-Message-Signature i=%d: body hash does not match", n))
	}
}

func checkVector(t *testing.T, name, msg string, opts Options, status, detail string) {
	t.Helper()
	res, err := Verify(t.Context(), strings.NewReader(msg), opts)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	got := res.Reason
	if status == "pass" {
		got = strings.Join(res.Sealers, " ")
	}
	if res.Status != status || got != detail {
		t.Errorf("%s: Verify = %+v, want %s (%s)", name, res, status, detail)
	}
}
