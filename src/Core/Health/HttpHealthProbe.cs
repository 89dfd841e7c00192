using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.Health;

/// <summary>How one active health check went.</summary>
internal enum HealthProbeOutcome
{
    /// <summary>A status line with a status in the accepted range.</summary>
    Passed,
    /// <summary>A well-formed status line with a status outside the accepted range.</summary>
    BadStatus,
    /// <summary>The TCP connection could not be made.</summary>
    ConnectFailed,
    /// <summary>No complete status line within the timeout.</summary>
    TimedOut,
    /// <summary>The connection closed or reset before a complete status line.</summary>
    Closed,
    /// <summary>Bytes that are not an HTTP/1.x status line.</summary>
    Malformed,
}

internal readonly record struct HealthProbeResult(HealthProbeOutcome Outcome, int Status = 0)
{
    public bool Passed => Outcome == HealthProbeOutcome.Passed;
}

/// <summary>
/// The active health check's request: <c>GET uri HTTP/1.1</c> with <c>Host</c> and <c>Connection: close</c> over a
/// fresh raw socket, then only the status line is read and checked (strictly, RFC 9112 §4); the rest of the response
/// is not read. No pooling, no TLS: a probe is one short connection per server per interval.
/// </summary>
internal static class HttpHealthProbe
{
    /// <summary>A status line longer than this is malformed (nginx's default proxy_buffer_size is 4k; status lines are short).</summary>
    internal const int MaxStatusLineLength = 1024;

    /// <summary>The request bytes, built once per checker.</summary>
    public static byte[] BuildRequest(string uri, string host) =>
        Encoding.ASCII.GetBytes($"GET {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: FastProxy-HealthCheck\r\nAccept: */*\r\nConnection: close\r\n\r\n");

    /// <summary>An origin-form URI we are willing to write into the request line verbatim.</summary>
    public static bool IsValidUri(string? uri)
    {
        if (string.IsNullOrEmpty(uri) || uri[0] != '/')
        {
            return false;
        }
        foreach (char c in uri)
        {
            if (c <= ' ' || c >= 0x7F)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Runs one check; <paramref name="cancellationToken"/> carries the timeout (and the checker's stop). Returns
    /// <see cref="HealthProbeOutcome.TimedOut"/> when the token fires, never throws for network errors.
    /// </summary>
    public static async Task<HealthProbeResult> ProbeAsync(IPEndPoint endPoint, ReadOnlyMemory<byte> request, int minStatus, int maxStatus, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxStatusLineLength);
        try
        {
            using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return new(HealthProbeOutcome.ConnectFailed);
            }

            while (!request.IsEmpty)
            {
                int sent = await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                request = request[sent..];
            }

            int length = 0;
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(length, MaxStatusLineLength - length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return new(HealthProbeOutcome.Closed);
                }
                length += read;
                int lf = buffer.AsSpan(0, length).IndexOf((byte)'\n');
                if (lf >= 0)
                {
                    if (!TryParseStatusLine(buffer.AsSpan(0, lf + 1), out int status))
                    {
                        return new(HealthProbeOutcome.Malformed);
                    }
                    return status >= minStatus && status <= maxStatus
                        ? new(HealthProbeOutcome.Passed, status)
                        : new(HealthProbeOutcome.BadStatus, status);
                }
                if (length == MaxStatusLineLength)
                {
                    return new(HealthProbeOutcome.Malformed);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return new(HealthProbeOutcome.TimedOut);
        }
        catch (SocketException)
        {
            return new(HealthProbeOutcome.Closed);
        }
        catch (ObjectDisposedException)
        {
            return new(HealthProbeOutcome.Closed);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// RFC 9112 §4: <c>HTTP-version SP 3DIGIT SP [reason-phrase] CRLF</c>, HTTP-version being HTTP/1.0 or HTTP/1.1,
    /// reason-phrase being HTAB / SP / VCHAR / obs-text. <paramref name="line"/> ends with the LF.
    /// </summary>
    public static bool TryParseStatusLine(ReadOnlySpan<byte> line, out int status)
    {
        status = 0;
        // "HTTP/1.1 200 " + CRLF is the shortest valid line: 13 + 2 bytes.
        if (line.Length < 15 || !line.StartsWith("HTTP/1."u8) || (line[7] != (byte)'0' && line[7] != (byte)'1') || line[8] != (byte)' ')
        {
            return false;
        }
        if (line[^2] != (byte)'\r' || line[^1] != (byte)'\n')
        {
            return false;   // a bare LF is not a line ending here
        }
        for (int i = 9; i < 12; i++)
        {
            if (!char.IsAsciiDigit((char)line[i]))
            {
                return false;
            }
            status = (status * 10) + (line[i] - '0');
        }
        if (status < 100 || line[12] != (byte)' ')
        {
            return false;
        }
        foreach (byte b in line[13..^2])
        {
            if (b != (byte)'\t' && (b < 0x20 || b == 0x7F))
            {
                return false;
            }
        }
        return true;
    }
}
