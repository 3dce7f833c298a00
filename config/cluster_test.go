package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestCluster(t *testing.T) {
	const (
		iniFile     = "$DIR/main.ini"
		clusterFile = "$DIR/cluster.json"
	)
	masterArgs := []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "master", "--multinode_mode", "master"}
	slaveArgs := []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name=slave", "--multinode_mode=slave"}
	tests := []struct {
		name    string
		ini     string // main.ini; mqINI when empty
		cluster string // cluster.json; seedCluster when empty
		args    []string
		want    []loc // nil: Load must succeed
	}{
		{name: "seed master", args: masterArgs},
		{name: "seed slave", args: slaveArgs},
		{name: "single-dash flags", args: []string{"-config", iniFile, "-cluster_config", clusterFile, "-node_name", "slave", "-multinode_mode", "slave"}},
		{name: "only node_name", args: []string{"--node_name", "master"},
			want: []loc{{FlagFile, 0, "--cluster_config"}, {FlagFile, 0, "--multinode_mode"}, {FlagFile, 0, "--config"}}},
		{name: "only multinode_mode", args: []string{"--config", iniFile, "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--node_name"}, {FlagFile, 0, "--cluster_config"}}},
		{name: "only cluster_config", args: []string{"--config", iniFile, "--cluster_config", clusterFile},
			want: []loc{{FlagFile, 0, "--node_name"}, {FlagFile, 0, "--multinode_mode"}}},
		{name: "multinode_mode boss", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "slave", "--multinode_mode", "boss"},
			want: []loc{{FlagFile, 0, "--multinode_mode"}}},
		{name: "slave mode on the master", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "master", "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--multinode_mode"}}},
		{name: "master mode on a slave", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "slave", "--multinode_mode", "master"},
			want: []loc{{FlagFile, 0, "--multinode_mode"}}},
		{name: "node_name not in list", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "backup", "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--node_name"}}},
		{name: "node_name charset", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "my node", "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--node_name"}}},
		{name: "master missing from list", args: slaveArgs,
			cluster: "{\n\"cluster_name\": \"default\",\n\"chat_server_node_names\": [\"a\", \"slave\"],\n\"chat_server_master_node_name\": \"master\"\n}",
			want:    []loc{{"cluster.json", 4, "chat_server_master_node_name"}}},
		{name: "master empty", args: slaveArgs,
			cluster: `{"cluster_name": "default", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": ""}`,
			want:    []loc{{"cluster.json", 1, "chat_server_master_node_name"}}},
		{name: "duplicate node names", args: slaveArgs,
			cluster: "{\"cluster_name\": \"default\",\n\"chat_server_node_names\": [\"master\",\n\"slave\",\n\"slave\"],\n\"chat_server_master_node_name\": \"master\"}",
			want:    []loc{{"cluster.json", 4, "chat_server_node_names[2]"}}},
		{name: "empty node name", args: slaveArgs,
			cluster: `{"cluster_name": "default", "chat_server_node_names": ["master", "slave", ""], "chat_server_master_node_name": "master"}`,
			want:    []loc{{"cluster.json", 1, "chat_server_node_names[2]"}}},
		{name: "no nodes", args: slaveArgs,
			cluster: `{"cluster_name": "default", "chat_server_node_names": [], "chat_server_master_node_name": "master"}`,
			want:    []loc{{"cluster.json", 1, "chat_server_node_names"}}},
		{name: "bad cluster_name", args: slaveArgs,
			cluster: `{"cluster_name": "my cluster", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}`,
			want:    []loc{{"cluster.json", 1, "cluster_name"}}},
		{name: "empty cluster_name", args: slaveArgs,
			cluster: `{"cluster_name": "", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}`,
			want:    []loc{{"cluster.json", 1, "cluster_name"}}},
		{name: "unknown and missing fields", args: slaveArgs,
			cluster: "{\n\"cluster_name\": \"default\",\n\"chat_server_node_names\": [\"master\", \"slave\"],\n\"master\": \"master\"\n}",
			want:    []loc{{"cluster.json", 4, "master"}, {"cluster.json", 1, "chat_server_master_node_name"}}},
		{name: "wrong types", args: slaveArgs,
			cluster: `{"cluster_name": 7, "chat_server_node_names": "master", "chat_server_master_node_name": "master"}`,
			want:    []loc{{"cluster.json", 1, "cluster_name"}, {"cluster.json", 1, "chat_server_node_names"}}},
		{name: "malformed JSON", args: slaveArgs,
			cluster: "{\n\"cluster_name\": \"default\",\n\"chat_server_node_names\": [\"master\" \"slave\"]\n}",
			want:    []loc{{"cluster.json", 3, ""}}},
		{name: "truncated JSON", args: slaveArgs, cluster: "{\n\"cluster_name\": \"default\",\n",
			want: []loc{{"cluster.json", 3, ""}}},
		{name: "not an object", args: slaveArgs, cluster: `["master"]`,
			want: []loc{{"cluster.json", 1, ""}}},
		{name: "missing cluster file", args: []string{"--config", iniFile, "--cluster_config", "$DIR/nope.json", "--node_name", "slave", "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--cluster_config"}}},
		{name: "cluster mode without --config", args: []string{"--cluster_config", clusterFile, "--node_name", "slave", "--multinode_mode", "slave"},
			want: []loc{{FlagFile, 0, "--config"}}},
		{name: "missing mq_host", args: masterArgs, ini: "mq_port = 5672\nmq_username = guest\nmq_password = guest\nmq_virtual_host = /\ndb_dsn = postgres://u@db/chat\n",
			want: []loc{{"main.ini", 0, "mq_host"}}},
		{name: "cluster without PostgreSQL", args: masterArgs, ini: strings.Replace(mqINI, "db_dsn", "; db_dsn", 1),
			want: []loc{{"main.ini", 0, "db_dsn"}}},
		{name: "malformed mq_port", args: masterArgs, ini: strings.Replace(mqINI, "5672", "amqp", 1),
			want: []loc{{"main.ini", 2, "mq_port"}}},
		{name: "malformed mq_password counts as set", args: masterArgs, ini: strings.Replace(mqINI, "guest\nmq_v", "\"guest\nmq_v", 1),
			want: []loc{{"main.ini", 4, "mq_password"}}},
		{name: "every mq key missing", args: slaveArgs, ini: "; nothing\n",
			want: []loc{{"main.ini", 0, "mq_host"}, {"main.ini", 0, "mq_port"}, {"main.ini", 0, "mq_username"}, {"main.ini", 0, "mq_password"}, {"main.ini", 0, "mq_virtual_host"}, {"main.ini", 0, "db_dsn"}}},
		{name: "mq keys from an overlay", args: slaveArgs, ini: "; in main.ini.d\n"},
		{name: "all at once", args: []string{"--config", iniFile, "--cluster_config", clusterFile, "--node_name", "ghost", "--multinode_mode", "boss", "--port", "x"},
			cluster: `{"cluster_name": "default", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "boss"}`,
			ini:     "mq_host = h\nmq_port = 0\n",
			want: []loc{
				{FlagFile, 0, "--multinode_mode"},
				{"cluster.json", 1, "chat_server_master_node_name"},
				{FlagFile, 0, "--node_name"},
				{"main.ini", 2, "mq_port"},
				{FlagFile, 0, "--port"},
				{"main.ini", 0, "mq_username"}, {"main.ini", 0, "mq_password"}, {"main.ini", 0, "mq_virtual_host"},
				{"main.ini", 0, "db_dsn"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ini, cluster := tt.ini, tt.cluster
			if ini == "" {
				ini = mqINI
			}
			if cluster == "" {
				cluster = seedCluster
			}
			writeFile(t, dir, "main.ini", ini)
			writeFile(t, dir, "cluster.json", cluster)
			if tt.name == "mq keys from an overlay" {
				writeFile(t, dir, "main.ini.d/mq.ini", mqINI)
			}
			args := expand(tt.args, dir)
			if tt.want == nil {
				c := mustLoad(t, args...)
				want := &Cluster{Name: "default", NodeNames: []string{"master", "slave"}, MasterNodeName: "master"}
				if !reflect.DeepEqual(c.Cluster, want) || c.ClusterConfigPath != dir+"/cluster.json" {
					t.Fatalf("Cluster = %+v from %q", c.Cluster, c.ClusterConfigPath)
				}
				if c.Mode != Mode(c.NodeName) {
					t.Fatalf("node %q runs as %q", c.NodeName, c.Mode)
				}
				return
			}
			wantLocs(t, loadProblems(t, args...), tt.want...)
		})
	}
}

func TestClusterSummary(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, "--config", writeFile(t, dir, "main.ini", mqINI),
		"--cluster_config", writeFile(t, dir, "cluster.json", seedCluster),
		"--node_name", "master", "--multinode_mode", "master")
	s := c.Summary()
	for _, want := range []string{"mode=cluster", "role=master", "node=master", "cluster=default", "listen=127.0.0.1:8080", "store=postgres", "operators=2"} {
		if !strings.Contains(s, want) {
			t.Errorf("Summary() = %q, want it to hold %q", s, want)
		}
	}
	if strings.Contains(s, "\n") {
		t.Errorf("Summary() is more than one line: %q", s)
	}
}
