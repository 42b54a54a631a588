package upload

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/nhs-steward/steward/internal/fsutil"
)

func encodeKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

const pemType = "STEWARD ED25519 PRIVATE KEY"

// GenerateKey creates a new practice key and writes it to path (mode 0600),
// refusing to overwrite an existing key.
func GenerateKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: priv.Seed()})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("practice key %s already exists: the practice is enrolled with it (delete it only to re-enrol with a new code)", path)
		}
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	return priv, f.Close()
}

// LoadKey reads a practice key written by GenerateKey.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no practice key at %s: run `steward-agent enrol --code CODE` with the code from your ICB", path)
		}
		return nil, fmt.Errorf("read practice key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("practice key %s is not a Steward key (empty or damaged): enrol again with a new code from your ICB (steward-agent enrol --code CODE)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// SaveKey writes a practice key to path durably (temporary file, fsync,
// rename; mode 0600), replacing what is there. enrol calls it only after
// the collector accepted the key, so a failed enrolment leaves nothing.
func SaveKey(path string, priv ed25519.PrivateKey) error {
	b := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: priv.Seed()})
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("write practice key: %w", err)
	}
	return nil
}

const collectorPEM = "STEWARD COLLECTOR RECEIPT PUBLIC KEY"

// SaveCollectorKey pins the collector's receipt key in path.
func SaveCollectorKey(path string, pub ed25519.PublicKey) error {
	b := pem.EncodeToMemory(&pem.Block{Type: collectorPEM, Bytes: pub})
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("pin collector key: %w", err)
	}
	return nil
}

// ErrNoCollectorKey means no collector key is pinned yet.
var ErrNoCollectorKey = errors.New("no collector key pinned")

// LoadCollectorKey reads the pinned collector receipt key.
func LoadCollectorKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCollectorKey
	}
	if err != nil {
		return nil, fmt.Errorf("read pinned collector key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != collectorPEM || len(blk.Bytes) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("pinned collector key %s is corrupt: delete it; the agent pins the collector's key again at its next delivery", path)
	}
	return ed25519.PublicKey(blk.Bytes), nil
}
