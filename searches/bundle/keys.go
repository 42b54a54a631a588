package bundle

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// PEM block types of Steward signing keys (search authors, TUF roles).
const (
	privateKeyPEM = "STEWARD ED25519 PRIVATE KEY"
	publicKeyPEM  = "STEWARD ED25519 PUBLIC KEY"
)

// GenerateKey creates an ed25519 signing key, writes the private key to
// path (mode 0600, never overwriting) and the public key to path + ".pub".
func GenerateKey(path string) (ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if err := writeExclusive(path, pem.EncodeToMemory(&pem.Block{Type: privateKeyPEM, Bytes: priv.Seed()}), 0o600); err != nil {
		return nil, err
	}
	if err := WritePublicKey(path+".pub", pub); err != nil {
		return nil, err
	}
	return priv, nil
}

// WritePublicKey writes pub to path, never overwriting.
func WritePublicKey(path string, pub ed25519.PublicKey) error {
	return writeExclusive(path, pem.EncodeToMemory(&pem.Block{Type: publicKeyPEM, Bytes: pub}), 0o644)
}

// WritePrivateKey writes priv to path (mode 0600), never overwriting.
func WritePrivateKey(path string, priv ed25519.PrivateKey) error {
	return writeExclusive(path, pem.EncodeToMemory(&pem.Block{Type: privateKeyPEM, Bytes: priv.Seed()}), 0o600)
}

func writeExclusive(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("key file %s already exists: choose another name (keys are never overwritten)", path)
		}
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	return f.Close()
}

// LoadPrivateKey reads a private key written by GenerateKey.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if blk.Type != privateKeyPEM || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is not a Steward private key (make one with `steward search keygen`)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// LoadPublicKey reads a public key file, or derives the public key from a
// private key file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch {
	case blk.Type == publicKeyPEM && len(blk.Bytes) == ed25519.PublicKeySize:
		return ed25519.PublicKey(blk.Bytes), nil
	case blk.Type == privateKeyPEM && len(blk.Bytes) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(blk.Bytes).Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("%s is not a Steward public key", path)
}

func readPEM(path string) (*pem.Block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s is not a PEM key file", path)
	}
	return blk, nil
}
