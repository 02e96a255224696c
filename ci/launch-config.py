#!/usr/bin/env python3
"""Write the SNP-host launch description of a built SVSM image (make launch-config).

usage: ci/launch-config.py IMAGE.elf IMAGE.bin OUTDIR

Reads the image's launch layout from its symbols and its .snp.launch section (entry,
secrets page, CPUID page, memory size, SVSM region, calling area, guest VMPL, vCPU count
and APIC IDs) and writes
  OUTDIR/qemu-snp.sh       the QEMU command line for an SEV-SNP host (commented)
  OUTDIR/svsm-domain.xml   a libvirt domain with <launchSecurity type='sev-snp'>
  OUTDIR/layout.txt        the launch layout, for the IGVM packer and for measurement
then checks the script's syntax (bash -n) and validates the XML with virt-xml-validate
as far as the installed libvirt schema allows (docs/hardware.md says what it cannot check).
"""
import os
import re
import shutil
import struct
import subprocess
import sys

MAX_CPUS = 64           # SNP_MAX_CPUS (svsm/arch/snp/snp.h)
LAUNCH_FMT = f"<IIQQQQQQQQQB7xII{MAX_CPUS}I"
LAUNCH_MAGIC = 0x48434E4C
LAUNCH_VERSION = 2
CBITPOS = 51            # Milan, Genoa, Turin
REDUCED_PHYS_BITS = 1
POLICY = 0x30000        # SMT allowed, reserved bit 17; no debug, no migration agent


def symbols(elf):
    out = subprocess.run(["nm", elf], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms


def launch_params(elf):
    """Decode struct snp_launch_params (svsm/arch/snp/snp.h) from the ELF file."""
    hdrs = subprocess.run(["readelf", "-SW", elf], check=True, capture_output=True, text=True).stdout
    m = re.search(r"\]\s+\.snp\.launch\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", hdrs)
    if not m:
        sys.exit("launch-config: the image has no .snp.launch section")
    addr, off = int(m.group(1), 16), int(m.group(2), 16)
    with open(elf, "rb") as fh:
        fh.seek(off)
        raw = fh.read(struct.calcsize(LAUNCH_FMT))
    v = struct.unpack(LAUNCH_FMT, raw)
    keys = ["magic", "version", "mem_size", "svsm_base", "svsm_size", "caa_gpa", "guest_rip", "guest_rsp",
            "guest_cr0", "guest_cr3", "guest_cr4", "guest_vmpl", "cpu_count", "reserved2"]
    p = dict(zip(keys, v))
    if p["magic"] != LAUNCH_MAGIC:
        sys.exit(f"launch-config: bad launch parameter magic {p['magic']:#x}")
    if p["version"] < LAUNCH_VERSION:
        sys.exit(f"launch-config: launch parameters version {p['version']}, need {LAUNCH_VERSION} (vCPU list)")
    if not 1 <= p["cpu_count"] <= MAX_CPUS:
        sys.exit(f"launch-config: vCPU count {p['cpu_count']} outside 1..{MAX_CPUS}")
    p["apic_ids"] = list(v[len(keys):len(keys) + p["cpu_count"]])
    if len(set(p["apic_ids"])) != len(p["apic_ids"]):
        sys.exit(f"launch-config: APIC IDs {p['apic_ids']} are not distinct")
    p["address"] = addr
    return p


def main():
    elf, binf, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    s = symbols(elf)
    p = launch_params(elf)
    mem_mib = p["mem_size"] >> 20
    igvm = os.path.join(os.path.abspath(out), "svsm.igvm")
    layout = {
        "image_elf": os.path.abspath(elf),
        "image_bin": os.path.abspath(binf),
        "image_base": s["__image_start"],
        "image_file_end": s["__file_end"],
        "image_end": s["__image_end"],
        "entry_snp32": s["start_snp32"],
        "entry_pvh32": s["start_pvh32"],
        "secrets_page": s["snp_secrets_page"],
        "cpuid_page": s["snp_cpuid_page"],
        "launch_params": p["address"],
        "mem_size": p["mem_size"],
        "svsm_base": p["svsm_base"],
        "svsm_size": p["svsm_size"],
        "caa_gpa": p["caa_gpa"],
        "guest_vmpl": p["guest_vmpl"],
        "guest_rip": p["guest_rip"],
        "cpu_count": p["cpu_count"],
        "apic_ids": ",".join(str(a) for a in p["apic_ids"]),
    }
    with open(os.path.join(out, "layout.txt"), "w") as fh:
        fh.write("# SNP launch layout of the SVSM image (docs/image.md); addresses are guest-physical\n")
        for k, v in layout.items():
            fh.write(f"{k}={v:#x}\n" if isinstance(v, int) else f"{k}={v}\n")

    script = f"""#!/usr/bin/env bash
# Launch the SVSM image as an SEV-SNP guest (written by make launch-config; docs/hardware.md).
# Needs an SNP host: EPYC 7003/9004/9005 with SNP enabled in the BIOS and SNP firmware loaded,
# a Linux >= 6.11 host kernel (kvm_amd sev_snp=1), QEMU >= 10.0 (sev-snp-guest since 9.1, igvm-cfg since 10.0).
# The SVSM runs at VMPL0; the guest firmware/OS it serves runs at VMPL{p['guest_vmpl']}.
set -euo pipefail

# The IGVM file: the image {os.path.basename(binf)} at {layout['image_base']:#x} (SNP_LAUNCH_UPDATE normal
# pages), the SECRETS page at {layout['secrets_page']:#x}, the CPUID page at {layout['cpuid_page']:#x},
# one VMPL0 VMSA starting at start_snp32 ({layout['entry_snp32']:#x}, 32-bit protected mode), and
# the guest firmware for VMPL{p['guest_vmpl']}. See layout.txt next to this script.
IGVM=${{IGVM:-{igvm}}}
if [ ! -f "$IGVM" ]; then
	echo "qemu-snp.sh: $IGVM not found: package the image as IGVM first (docs/hardware.md)" >&2
	exit 1
fi

args=(
	-enable-kvm
	# A CPU model the SNP firmware accepts (its CPUID page is checked by the AMD-SP).
	-cpu EPYC-v4
	# The launch parameters name {p['cpu_count']} vCPU(s), APIC IDs {",".join(str(a) for a in p["apic_ids"])}: the SVSM starts a
	# VMPL0 context on each AP and refuses CREATE_VCPU for any other APIC ID. QEMU numbers
	# the APIC IDs of -smp N from 0 (no sockets/threads options given).
	-smp {p['cpu_count']}
	-m {mem_mib}M
	# Guest memory from a memfd: KVM backs private pages with guest_memfd, shared ones here.
	-object memory-backend-memfd,id=ram1,size={mem_mib}M,share=true,prealloc=false
	# The SNP launch: C-bit position and reduced physical address bits of EPYC hosts,
	# policy {POLICY:#x} (SMT allowed, bit 17 set, no debug, no migration agent).
	-object sev-snp-guest,id=sev0,cbitpos={CBITPOS},reduced-phys-bits={REDUCED_PHYS_BITS},policy={POLICY:#x}
	# IGVM instead of -bios/-kernel: only IGVM lets the launch place a VMPL0 VMSA, the secrets
	# page and the CPUID page where the SVSM expects them, all measured.
	-object igvm-cfg,id=igvm0,file="$IGVM"
	-machine q35,confidential-guest-support=sev0,memory-backend=ram1,igvm-cfg=igvm0
	-nographic
	-serial mon:stdio
	-no-reboot
)
exec qemu-system-x86_64 "${{args[@]}}" "$@"
"""
    spath = os.path.join(out, "qemu-snp.sh")
    with open(spath, "w") as fh:
        fh.write(script)
    os.chmod(spath, 0o755)

    xml = f"""<!-- The SVSM image as an SEV-SNP guest under libvirt (written by make launch-config;
     docs/hardware.md). Needs libvirt >= 10.5 for launchSecurity type='sev-snp'. -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>svsm-snp</name>
  <memory unit='MiB'>{mem_mib}</memory>
  <currentMemory unit='MiB'>{mem_mib}</currentMemory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu placement='static'>{p['cpu_count']}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='host-passthrough'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <memballoon model='none'/>
  </devices>
  <launchSecurity type='sev-snp' authorKey='no' vcek='yes'>
    <cbitpos>{CBITPOS}</cbitpos>
    <reducedPhysBits>{REDUCED_PHYS_BITS}</reducedPhysBits>
    <policy>{POLICY:#010x}</policy>
  </launchSecurity>
  <!-- libvirt has no IGVM element yet: pass the IGVM object to QEMU directly. -->
  <qemu:commandline>
    <qemu:arg value='-object'/>
    <qemu:arg value='igvm-cfg,id=igvm0,file={igvm}'/>
    <qemu:arg value='-machine'/>
    <qemu:arg value='igvm-cfg=igvm0'/>
  </qemu:commandline>
</domain>
"""
    xpath = os.path.join(out, "svsm-domain.xml")
    with open(xpath, "w") as fh:
        fh.write(xml)

    subprocess.run(["bash", "-n", spath], check=True)
    print(f"launch-config: {spath} (bash -n OK)")
    print(f"launch-config: {os.path.join(out, 'layout.txt')}")
    validator = shutil.which("virt-xml-validate")
    if not validator:
        print("launch-config: virt-xml-validate not found (package libvirt-clients); XML not validated")
        return 1
    full = subprocess.run([validator, xpath, "domain"], capture_output=True, text=True)
    if full.returncode == 0:
        print(f"launch-config: {xpath} validates against the installed libvirt schema")
        return 0
    # Older schemas (libvirt < 10.5, Debian 12 has 9.0) only know type='sev': validate the
    # rest of the domain with the SNP element in its SEV form, and say what was not checked.
    if "sev-snp" not in full.stdout + full.stderr and "launchSecurity" not in full.stdout + full.stderr:
        print(full.stdout + full.stderr, file=sys.stderr)
        sys.exit(f"launch-config: {xpath} does not validate")
    sev_form = xml.replace("<launchSecurity type='sev-snp' authorKey='no' vcek='yes'>",
                           "<launchSecurity type='sev'>")
    tmp = os.path.join(out, ".svsm-domain-sevform.xml")
    with open(tmp, "w") as fh:
        fh.write(sev_form)
    part = subprocess.run([validator, tmp, "domain"], capture_output=True, text=True)
    os.unlink(tmp)
    if part.returncode != 0:
        print(part.stdout + part.stderr, file=sys.stderr)
        sys.exit(f"launch-config: {xpath} does not validate even with the SNP element in SEV form")
    print(f"launch-config: {xpath}: the installed schema rejects launchSecurity type='sev-snp' "
          "(libvirt < 10.5); everything else validates (checked with that element in its SEV form)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
