package runner

import (
	"io"
	"net"
	"sync"
)

// relayEgress serves listen (on the container's loopback, the only network
// a sandbox has) and carries each connection to the host's egress proxy at
// the unix socket sock, which decides what may pass. It is started before
// any block runs, so no block can take the port first.
func relayEgress(listen, sock string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				continue // out of descriptors for a moment: a block's doing
			}
			go relay(c, sock)
		}
	}()
	return nil
}

// relay copies both ways between c and a new connection to sock.
func relay(c net.Conn, sock string) {
	defer c.Close()
	up, err := net.Dial("unix", sock)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(up, c)
		if u, ok := up.(*net.UnixConn); ok {
			u.CloseWrite()
		}
	}()
	io.Copy(c, up)
	c.Close() // ends the other copy if the client is still sending
	wg.Wait()
}
