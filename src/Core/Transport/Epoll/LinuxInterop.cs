using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// The few libc calls the epoll transport makes. Every call is non-blocking and synchronous, so buffers are pinned
/// only for the duration of the call; errors come back as errno values, never exceptions.
/// </summary>
internal static unsafe partial class LinuxInterop
{
    private const string Libc = "libc";

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;
    public const int EINPROGRESS = 115;
    public const int EADDRNOTAVAIL = 99;

    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int TCP_QUICKACK = 12;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int MSG_PEEK = 0x2;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    public const uint EPOLLIN = 0x1;
    public const uint EPOLLOUT = 0x4;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLEXCLUSIVE = 1u << 28;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>struct epoll_event as x86-64 Linux lays it out: packed, 12 bytes.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>Room for a sockaddr_in or sockaddr_in6.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    public struct SockAddrBuffer
    {
        private long _a, _b, _c, _d;
    }

    /// <summary>
    /// The epoll transport runs where it was written for and tested: Linux on x86-64 (epoll_event's layout differs
    /// on other architectures). Everywhere else the server uses .NET's sockets.
    /// </summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint recv(int fd, void* buffer, nint length, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint recvmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint send(int fd, void* buffer, nint length, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint sendmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int accept4(int fd, void* address, uint* addressLength, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int connect(int fd, void* address, uint addressLength);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getsockname(int fd, void* address, uint* addressLength);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Nagle's algorithm off, as nginx's tcp_nodelay: small heads must not wait for an ACK.</summary>
    public static void SetNoDelay(int fd)
    {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int));
    }

    /// <summary>Writes <paramref name="endPoint"/> as a sockaddr; returns its length.</summary>
    public static uint WriteSockAddr(IPEndPoint endPoint, SockAddrBuffer* buffer)
    {
        var bytes = new Span<byte>(buffer, sizeof(SockAddrBuffer));
        bytes.Clear();
        ushort port = (ushort)endPoint.Port;
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            // sockaddr_in: family (host order), port (network order), address, zero padding.
            bytes[0] = AF_INET;
            bytes[2] = (byte)(port >> 8);
            bytes[3] = (byte)port;
            endPoint.Address.TryWriteBytes(bytes.Slice(4, 4), out _);
            return 16;
        }
        // sockaddr_in6: family, port, flowinfo, address, scope id.
        bytes[0] = AF_INET6;
        bytes[2] = (byte)(port >> 8);
        bytes[3] = (byte)port;
        endPoint.Address.TryWriteBytes(bytes.Slice(8, 16), out _);
        uint scope = (uint)endPoint.Address.ScopeId;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.Slice(24, 4), scope);
        return 28;
    }

    /// <summary>Reads a sockaddr_in or sockaddr_in6; null for any other family.</summary>
    public static IPEndPoint? ReadSockAddr(SockAddrBuffer* buffer, uint length)
    {
        var bytes = new ReadOnlySpan<byte>(buffer, (int)Math.Min(length, (uint)sizeof(SockAddrBuffer)));
        if (bytes.Length < 2)
        {
            return null;
        }
        int family = bytes[0] | (bytes[1] << 8);
        if (family == AF_INET && bytes.Length >= 8)
        {
            return new IPEndPoint(new IPAddress(bytes.Slice(4, 4)), (bytes[2] << 8) | bytes[3]);
        }
        if (family == AF_INET6 && bytes.Length >= 28)
        {
            uint scope = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(24, 4));
            return new IPEndPoint(new IPAddress(bytes.Slice(8, 16), scope), (bytes[2] << 8) | bytes[3]);
        }
        return null;
    }

    /// <summary>
    /// A peer's address as <see cref="RealIp.ClientAddress"/> (no allocation: what an accepted connection keeps); an
    /// IPv4-mapped IPv6 address becomes IPv4, as nginx shows it. Default when the family is neither.
    /// </summary>
    public static RealIp.ClientAddress ReadClientAddress(SockAddrBuffer* buffer, uint length)
    {
        var bytes = new ReadOnlySpan<byte>(buffer, (int)Math.Min(length, (uint)sizeof(SockAddrBuffer)));
        if (bytes.Length < 4)
        {
            return default;
        }
        int family = bytes[0] | (bytes[1] << 8);
        int port = (bytes[2] << 8) | bytes[3];
        if (family == AF_INET && bytes.Length >= 8)
        {
            return RealIp.ClientAddress.FromIPv4(bytes.Slice(4, 4), port);
        }
        if (family == AF_INET6 && bytes.Length >= 24)
        {
            var v6 = RealIp.ClientAddress.FromIPv6(bytes.Slice(8, 16), port);
            return v6.IsIPv4MappedIPv6 ? RealIp.ClientAddress.FromIPv4(v6.IPv4Value, port) : v6;
        }
        return default;
    }

    public static SocketError ToSocketError(int errno) => errno switch
    {
        0 => SocketError.Success,
        ECONNREFUSED => SocketError.ConnectionRefused,
        ECONNRESET => SocketError.ConnectionReset,
        ECONNABORTED => SocketError.ConnectionAborted,
        ETIMEDOUT => SocketError.TimedOut,
        EHOSTUNREACH => SocketError.HostUnreachable,
        ENETUNREACH => SocketError.NetworkUnreachable,
        EPIPE => SocketError.Shutdown,
        ENOTCONN => SocketError.NotConnected,
        EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        EMFILE or ENFILE => SocketError.TooManyOpenSockets,
        ENOBUFS or ENOMEM => SocketError.NoBufferSpaceAvailable,
        _ => SocketError.SocketError,
    };
}
