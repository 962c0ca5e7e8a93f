// The pcap link type of a captured interface, from its ARPHRD_ hardware type (as libpcap maps it).

export interface LinkType {
  /** The LINKTYPE_ number pcap files carry. */
  value: number;
  /** libpcap's name for it (`EN10MB`), as tcpdump prints it. */
  name: string;
  description: string;
}

const ETHERNET: LinkType = { value: 1, name: 'EN10MB', description: 'Ethernet' };
const RAW: LinkType = { value: 101, name: 'RAW', description: 'Raw IP' };

// linux/if_arp.h
const BY_HARDWARE_TYPE = new Map<number, LinkType>([
  [1, ETHERNET], // ARPHRD_ETHER
  [772, ETHERNET], // ARPHRD_LOOPBACK: the kernel writes an all-zero Ethernet header
  [65534, RAW], // ARPHRD_NONE: tun and wireguard devices, frames start at the IP header
  [65535, RAW], // ARPHRD_VOID
  [776, RAW], // ARPHRD_SIT
  [768, RAW], // ARPHRD_TUNNEL
  [769, RAW], // ARPHRD_TUNNEL6
  [803, { value: 127, name: 'IEEE802_11_RADIO', description: '802.11 plus radiotap header' }],
  [824, { value: 253, name: 'NETLINK', description: 'Linux netlink' }],
]);

/** The link type for an interface of hardware type `hardwareType`, or undefined where pcap has none we know. */
export function linkTypeOf(hardwareType: number): LinkType | undefined {
  return BY_HARDWARE_TYPE.get(hardwareType);
}
