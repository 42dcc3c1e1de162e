package sim

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// zkRegistration registers the masters in ZooKeeper the way Mesos'
// contender does: an EPHEMERAL|SEQUENCE znode <path>/json.info_ per master
// holding its MasterInfo as JSON; the smallest sequence leads.
type zkRegistration struct {
	conn  *zk.Conn
	dir   string
	nodes []string // by master index
}

// RegisterInZooKeeper registers every master under zk://hosts/path and keeps
// the leading master the one with the smallest sequence number.
func (c *Cluster) RegisterInZooKeeper(url string) error {
	rest, ok := strings.CutPrefix(url, "zk://")
	if !ok {
		return fmt.Errorf("%q is not a zk:// URL", url)
	}
	hosts, dir, _ := strings.Cut(rest, "/")
	dir = path.Clean("/" + dir)
	conn, _, err := zk.Connect(strings.Split(hosts, ","), 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return err
	}
	reg := &zkRegistration{conn: conn, dir: dir}
	p := ""
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		p += "/" + part
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			conn.Close()
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.zk = reg
	order := []int{c.leader}
	for i := range c.masters {
		if i != c.leader {
			order = append(order, i)
		}
	}
	reg.nodes = make([]string, len(c.masters))
	for _, i := range order {
		if err := c.zkRegisterLocked(i); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) zkRegisterLocked(i int) error {
	info := c.masterInfoLocked(c.masters[i])
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	node, err := c.zk.conn.Create(c.zk.dir+"/json.info_", data, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		return fmt.Errorf("register master %d: %w", i, err)
	}
	c.zk.nodes[i] = node
	return nil
}

// onLeaderChangeLocked re-registers the masters so that the new leader has
// the smallest sequence: the others' nodes are re-created after it.
func (c *Cluster) onLeaderChangeLocked() {
	if c.zk == nil {
		return
	}
	for i, n := range c.zk.nodes {
		if i != c.leader && n != "" {
			_ = c.zk.conn.Delete(n, -1)
			c.zk.nodes[i] = ""
		}
	}
	// The new leader's node may be younger than others'; re-create every
	// other node so the leader's is now the smallest.
	for i := range c.masters {
		if i != c.leader {
			_ = c.zkRegisterLocked(i)
		}
	}
}

// closeZK ends the registration session (its ephemeral nodes go).
func (c *Cluster) closeZK() {
	if c.zk != nil {
		c.zk.conn.Close()
	}
}
