// Package config owns chatnode's command-line flags and configuration files
// and turns them into one validated [Config].
//
// A node is configured from three sources:
//
//   - flags: --config, --node_name, --cluster_config, --multinode_mode,
//     --port, --log_format and -t (check only);
//   - main.ini, a flat "key = value" file named by --config, overlaid by
//     every main.ini.d/*.ini beside it in file-name order (later files win);
//   - JSON files: the cluster description named by --cluster_config and the
//     operator accounts named by the accounts_file key.
//
// Without --config the node runs on embedded defaults. Without any of the
// cluster flags it runs standalone; with any of them it runs as the master
// or a slave of the cluster described by --cluster_config, which also needs
// the mq_* keys that reach RabbitMQ.
//
// [Load] does not stop at the first mistake: it checks everything and returns
// every problem as [Problems], each naming the file and line (or the flag),
// the key and the offending value, so that an operator can fix a
// configuration in one pass. Secrets (mq_password, the password in db_dsn,
// password hashes) never appear in a [Problem], in [Config.Summary] or in
// [MQ.Redacted].
//
// Relative paths in main.ini (data_dir, accounts_file, tls_cert_file,
// tls_key_file) are taken relative to the node's working directory.
//
// Concurrency: the package has no global state; [Load] and [LoadAccounts]
// may run concurrently. A [Config] is not modified after Load returns and
// may be read from any number of goroutines.
package config
