# SPDX-License-Identifier: Apache-2.0
# One qemu VM booted from the base image's disk (no installer): Packer copies
# the base, boots it headless with a virtio disk and NIC, logs in with ssh.

source "qemu" "debian" {
  iso_url          = var.base_image_url
  iso_checksum     = var.base_image_checksum
  disk_image       = true
  use_backing_file = false
  format           = "qcow2"
  disk_size        = var.disk_size
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  accelerator      = var.accelerator
  cpus             = var.cpus
  memory           = var.memory
  headless         = true
  vnc_bind_address = "127.0.0.1"
  output_directory = var.output_directory
  vm_name          = "${var.output_name}.qcow2"
  skip_compaction  = true
  boot_wait        = "1s"

  # User networking with every forward bound to 127.0.0.1; restrict=on when
  # offline. Root's key goes in as a systemd credential, so the base image
  # needs no key, password or cloud-init datasource. The serial console
  # (kernel and systemd) goes to serial_log when set.
  qemuargs = [
    ["-netdev", "user,id=user.0,restrict=${var.offline ? "on" : "off"},hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    ["-smbios", "type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root=${base64encode(var.ssh_public_key)}"],
    ["-device", "virtio-rng-pci"],
    ["-serial", var.serial_log == "" ? "vc" : "file:${var.serial_log}"],
  ]

  communicator         = "ssh"
  ssh_username         = "root"
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = var.ssh_timeout
  shutdown_command     = "systemctl poweroff"
  shutdown_timeout     = "5m"
}
