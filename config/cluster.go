package config

import (
	"slices"
	"strings"
)

// Field names of the cluster description file.
const (
	fieldClusterName = "cluster_name"
	fieldNodeNames   = "chat_server_node_names"
	fieldMasterName  = "chat_server_master_node_name"
)

// parsedCluster is a cluster description with the lines of its fields, so
// that later checks can point at them.
type parsedCluster struct {
	Cluster
	masterLine int
	namesLine  int
	// namesValid is true when NodeNames was read and every name is valid
	// and unique.
	namesValid bool
	// masterValid is true when MasterNodeName was read and is one of
	// NodeNames.
	masterValid bool
}

// parseCluster reads and validates a cluster description:
//
//	{"cluster_name": "default",
//	 "chat_server_node_names": ["master", "slave"],
//	 "chat_server_master_node_name": "master"}
//
// It returns nil when the file is not a readable description at all.
func parseCluster(file string, data []byte) (*parsedCluster, Problems) {
	var ps Problems
	root, line, err := parseJSON(data)
	if err != nil {
		ps.add(file, line, "", "", err.Error())
		return nil, ps
	}
	r := &jsonReader{file: file, problems: &ps}
	fields := r.object(root, "", fieldClusterName, fieldNodeNames, fieldMasterName)
	if fields == nil {
		return nil, ps
	}
	r.require(fields, root.line, "", fieldClusterName, fieldNodeNames, fieldMasterName)
	pc := &parsedCluster{}

	if f, ok := fields[fieldClusterName]; ok {
		if s, ok := r.str(f.val, fieldClusterName); ok {
			pc.Name = s
			if reason := checkName(s); reason != "" {
				ps.add(file, f.val.line, fieldClusterName, s, reason)
			}
		}
	}

	namesOK := false
	if f, ok := fields[fieldNodeNames]; ok {
		pc.namesLine = f.val.line
		if elems, ok := r.array(f.val, fieldNodeNames); ok {
			namesOK = true
			seen := make(map[string]bool, len(elems))
			for i, e := range elems {
				path := indexPath(fieldNodeNames, i)
				s, ok := r.str(e, path)
				if !ok {
					namesOK = false
					continue
				}
				if reason := checkName(s); reason != "" {
					ps.add(file, e.line, path, s, reason)
					namesOK = false
				} else if seen[s] {
					ps.add(file, e.line, path, s, "duplicate node name")
					namesOK = false
				}
				seen[s] = true
				pc.NodeNames = append(pc.NodeNames, s)
			}
			if len(elems) == 0 {
				ps.add(file, f.val.line, fieldNodeNames, "", "must list at least one node")
				namesOK = false
			}
		}
	}
	pc.namesValid = namesOK

	if f, ok := fields[fieldMasterName]; ok {
		pc.masterLine = f.val.line
		if s, ok := r.str(f.val, fieldMasterName); ok {
			pc.MasterNodeName = s
			switch {
			case s == "":
				ps.add(file, f.val.line, fieldMasterName, "", "must not be empty")
			case namesOK && !pc.hasNode(s):
				ps.addf(file, f.val.line, fieldMasterName, s,
					"not in %s (%s)", fieldNodeNames, strings.Join(pc.NodeNames, ", "))
			case namesOK:
				pc.masterValid = true
			}
		}
	}
	return pc, ps
}

// hasNode reports whether name is one of the cluster's nodes.
func (c *Cluster) hasNode(name string) bool {
	return slices.Contains(c.NodeNames, name)
}

// checkName returns why s is not a valid cluster, node or prefix name, or ""
// when it is. Such names become parts of RabbitMQ object names.
func checkName(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "may hold only letters, digits, '_', '.' and '-'"
		}
	}
	return ""
}
