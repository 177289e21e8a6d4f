# SPDX-License-Identifier: Apache-2.0
# The golden image: Debian 12 + the synwatch package, enabled, with its
# default config (xdp.interfaces = ["auto"]: the default-route interface).
# One concern per script, in the order they run.

build {
  sources = ["source.qemu.debian"]

  provisioner "shell" {
    script = "${path.root}/scripts/wait-boot.sh"
  }

  provisioner "shell" {
    inline = ["mkdir -p /tmp/synwatch-install"]
  }

  provisioner "file" {
    sources     = var.deps_dir == "" ? [var.deb_path] : [var.deb_path, var.deps_dir]
    destination = "/tmp/synwatch-install/"
  }

  provisioner "shell" {
    scripts = [
      "${path.root}/scripts/install-synwatch.sh",
      "${path.root}/scripts/verify-synwatch.sh",
      "${path.root}/scripts/ssh-host-keys.sh",
      "${path.root}/scripts/cleanup.sh",
    ]
  }
}
