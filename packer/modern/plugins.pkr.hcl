# SPDX-License-Identifier: Apache-2.0
# For Packer >= 1.7 (1.10+ no longer bundles the qemu builder). Debian's
# packer 1.6.6 rejects this block, so it lives outside packer/: copy it next
# to the other files, then `packer init packer/` (see packer/README.md).

packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.0.10"
    }
  }
}
