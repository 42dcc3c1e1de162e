package git

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sparkmesos/reconciler/internal/gittest"
)

// sshServer serves git-upload-pack over SSH to one authorised key, the
// way a Git host does.
func sshServer(t *testing.T, authorized ssh.PublicKey) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(authorized.Marshal()) {
			return nil, nil
		}
		return nil, io.EOF
	}}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg)
		}
	}()
	return l.Addr().String(), signer.PublicKey()
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" || len(req.Payload) < 4 {
					_ = req.Reply(false, nil)
					continue
				}
				command := string(req.Payload[4 : 4+binary.BigEndian.Uint32(req.Payload)])
				_ = req.Reply(true, nil)
				name, arg, _ := strings.Cut(command, " ")
				cmd := exec.Command(name, strings.Trim(arg, "'"))
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
				status := uint32(0)
				if err := cmd.Run(); err != nil {
					status = 1
				}
				_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
				return
			}
		}()
	}
}

// Over SSH: the key from a file authenticates, and the server's host key
// must be in the known_hosts file; a server whose key is not there is
// refused.
func TestSyncSSH(t *testing.T) {
	o := gittest.New(t)
	head := o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ssh.NewPublicKey(pub)
	addr, hostKey := sshServer(t, clientKey)
	url := "ssh://git@" + addr + o.Bare

	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustSync(t, open(t, Options{URL: url, Auth: Auth{SSHKeyFile: keyFile, KnownHostsFile: known}}))
	if s.Revision.String() != "main@sha1:"+head || names(s) != "a.yaml" {
		t.Fatalf("over ssh: %s %s", s.Revision, names(s))
	}

	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	wrong := filepath.Join(dir, "known_hosts.wrong")
	if err := os.WriteFile(wrong, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, other.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = open(t, Options{URL: url, Auth: Auth{SSHKeyFile: keyFile, KnownHostsFile: wrong}}).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Fatalf("a host key not in known_hosts: %v", err)
	}
}
