using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using FastProxy.Transport.Epoll;
using Microsoft.Extensions.Logging;

namespace FastProxy.Transport;

/// <summary>Which transport a server runs on.</summary>
internal static class TransportFactories
{
    /// <summary>
    /// FastProxy's own epoll event loops on Linux x86-64, .NET's sockets elsewhere. The environment variable
    /// <c>FASTPROXY_TRANSPORT=sockets</c> (or <c>epoll</c>) chooses explicitly, for comparison and diagnosis.
    /// </summary>
    public static ITransportFactory Create(PipeScheduler scheduler, SocketArgsPool argsPool)
    {
        var choice = Environment.GetEnvironmentVariable("FASTPROXY_TRANSPORT");
        bool epoll = choice switch
        {
            "sockets" => false,
            "epoll" => LinuxInterop.IsSupported,
            _ => LinuxInterop.IsSupported,
        };
        if (epoll)
        {
            try
            {
                _ = EpollLoop.All; // started once per process; a sandbox without epoll or eventfd falls back below
                return new EpollTransportFactory();
            }
            catch (InvalidOperationException)
            {
            }
        }
        return new SocketTransportFactory(scheduler, argsPool);
    }
}

internal sealed class SocketTransportFactory(PipeScheduler scheduler, SocketArgsPool argsPool) : ITransportFactory
{
    public TransportConnection CreateOutbound(AddressFamily family)
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        SocketConnection.ConfigureSocket(socket);
        return new SocketConnection(socket, scheduler, argsPool);
    }

    public IConnectionListener Bind(IPEndPoint endPoint, ILogger logger) => ConnectionListener.Bind(endPoint, logger, scheduler, argsPool);
}

internal sealed class EpollTransportFactory : ITransportFactory
{
    public TransportConnection CreateOutbound(AddressFamily family) => EpollConnection.Outbound(family);

    public IConnectionListener Bind(IPEndPoint endPoint, ILogger logger) => EpollListener.Bind(endPoint, logger);
}
