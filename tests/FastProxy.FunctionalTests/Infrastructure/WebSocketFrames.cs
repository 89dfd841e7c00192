using System.Security.Cryptography;
using System.Text;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Just enough of RFC 6455 for an echo: the handshake accept value and small text frames.</summary>
public static class WebSocketFrames
{
    public static string AcceptFor(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    /// <summary>A final text frame (RFC 6455 §5.2), masked when sent by a client (§5.3).</summary>
    public static byte[] Text(string text, bool masked)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        if (payload.Length > 125)
        {
            throw new ArgumentException("small frames only", nameof(text));
        }
        var frame = new List<byte> { 0x81, (byte)((masked ? 0x80 : 0) | payload.Length) };
        if (masked)
        {
            var mask = RandomNumberGenerator.GetBytes(4);
            frame.AddRange(mask);
            for (int i = 0; i < payload.Length; i++)
            {
                frame.Add((byte)(payload[i] ^ mask[i % 4]));
            }
        }
        else
        {
            frame.AddRange(payload);
        }
        return [.. frame];
    }

    /// <summary>Reads one small frame and returns its opcode and unmasked text.</summary>
    public static async Task<(int Opcode, string Text)> ReadAsync(BufferedReader reader, CancellationToken cancellationToken = default)
    {
        var header = await reader.ReadExactlyAsync(2, cancellationToken);
        bool masked = (header[1] & 0x80) != 0;
        int length = header[1] & 0x7F;
        var mask = masked ? await reader.ReadExactlyAsync(4, cancellationToken) : null;
        var payload = await reader.ReadExactlyAsync(length, cancellationToken);
        if (mask is not null)
        {
            for (int i = 0; i < payload.Length; i++)
            {
                payload[i] ^= mask[i % 4];
            }
        }
        return (header[0] & 0x0F, Encoding.UTF8.GetString(payload));
    }

    /// <summary>A backend that completes the handshake and echoes text frames until the client goes.</summary>
    public static TestBackend EchoBackend() => new(async (request, c) =>
    {
        var key = request.Header("Sec-WebSocket-Key") ?? "";
        await c.WriteAsync($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {AcceptFor(key)}\r\n\r\n");
        c.CloseAfterResponse = true;
        try
        {
            while (true)
            {
                var (opcode, text) = await ReadAsync(c.Reader);
                if (opcode == 8)
                {
                    return;
                }
                await c.WriteAsync(Text("echo: " + text, masked: false));
            }
        }
        catch (IOException)
        {
        }
    });
}
