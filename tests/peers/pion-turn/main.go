// A minimal pion/turn v2 server for natscope's interop tests: long-term
// credentials, UDP on the given loopback address, relays on one IP.
// Prints "listening <ip:port>" once serving; stops when stdin closes or on
// SIGTERM/SIGINT. Built by the tests from Debian's
// golang-github-pion-turn.v2-dev (GOPATH mode, offline).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP listen address")
	realm := flag.String("realm", "natscope.test", "realm")
	user := flag.String("user", "alice", "user name")
	pass := flag.String("pass", "", "password")
	relayIP := flag.String("relay-ip", "127.0.0.1", "relay address advertised in XOR-RELAYED-ADDRESS (sockets bind on 127.0.0.1)")
	tcp := flag.Bool("tcp", false, "also serve TURN over TCP on the same port")
	flag.Parse()

	conn, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	key := turn.GenerateAuthKey(*user, *realm, *pass)
	relay := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.ParseIP(*relayIP),
			Address:      "127.0.0.1", // relays bind on loopback only
		}
	}
	var listeners []turn.ListenerConfig
	if *tcp {
		l, err := net.Listen("tcp4", conn.LocalAddr().String())
		if err != nil {
			log.Fatalf("listen tcp %s: %v", conn.LocalAddr(), err)
		}
		listeners = append(listeners, turn.ListenerConfig{Listener: l, RelayAddressGenerator: relay()})
	}
	// pion's logs go to stderr: stdout carries only the "listening" line.
	logs := logging.NewDefaultLoggerFactory()
	logs.Writer = os.Stderr
	server, err := turn.NewServer(turn.ServerConfig{
		Realm:         *realm,
		LoggerFactory: logs,
		AuthHandler: func(username, realm string, src net.Addr) ([]byte, bool) {
			if username == *user {
				return key, true
			}
			return nil, false
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: relay(),
		}},
		ListenerConfigs: listeners,
	})
	if err != nil {
		log.Fatalf("server: %v", err)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "listening %s\n", conn.LocalAddr())
	w.Flush()

	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		done <- struct{}{}
	}()
	<-done
	_ = server.Close()
}
