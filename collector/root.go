package main

import (
	"fmt"
	"os"
)

// allowRootEnv lets the appliance run as root (containers, test machines);
// otherwise it refuses, since every listener, parser and the embedded
// storage would then run with every privilege of the box.
const allowRootEnv = "SCADAOTEL_ALLOW_ROOT"

var geteuid = os.Geteuid

func checkNotRoot(allowFlag bool) error {
	if geteuid() != 0 || allowFlag || os.Getenv(allowRootEnv) == "1" {
		return nil
	}
	return fmt.Errorf("refusing to run as root: run as a dedicated user (the systemd unit in packaging/ does), " +
		"or say --allow-root (or " + allowRootEnv + "=1) if this is a container or test machine")
}
