package sim

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sparkmesos/reconciler/store/zk/zktest"
)

// TestZooKeeperRegistration: masters register as json.info_ sequential
// ephemeral znodes holding MasterInfo JSON; the smallest sequence is the
// leader, also after a failover.
func TestZooKeeperRegistration(t *testing.T) {
	zkc := zktest.Start(t, 1)
	cfg := fastConfig()
	cfg.Masters = 2
	c := startCluster(t, cfg)
	if err := c.RegisterInZooKeeper("zk://" + zkc.Addrs()[0] + "/mesos"); err != nil {
		t.Fatal(err)
	}
	defer c.closeZK()
	conn, _, err := zk.Connect(zkc.Addrs(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaderAddr := func() string {
		children, _, err := conn.Children("/mesos")
		if err != nil {
			t.Fatal(err)
		}
		var infos []string
		for _, ch := range children {
			if strings.HasPrefix(ch, "json.info_") {
				infos = append(infos, ch)
			}
		}
		if len(infos) != 2 {
			t.Fatalf("children %v: want two json.info_ nodes", children)
		}
		sort.Slice(infos, func(i, j int) bool { return infos[i][len(infos[i])-10:] < infos[j][len(infos[j])-10:] })
		data, _, err := conn.Get("/mesos/" + infos[0])
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Address struct {
				IP   string `json:"ip"`
				Port int    `json:"port"`
			} `json:"address"`
			IP uint32 `json:"ip"`
		}
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if info.IP != 16777343 {
			t.Errorf("legacy ip field %d, want 16777343 (127.0.0.1 in network order)", info.IP)
		}
		return "http://" + info.Address.IP + ":" + itoa(info.Address.Port)
	}
	if got := leaderAddr(); got != c.MasterURL() {
		t.Fatalf("zookeeper's leader %s, the cluster's %s", got, c.MasterURL())
	}
	c.FailOver()
	if got := leaderAddr(); got != c.MasterURL() {
		t.Fatalf("after a failover zookeeper's leader is %s, the cluster's %s", got, c.MasterURL())
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
