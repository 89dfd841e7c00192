using System.Text;
using FastProxy.Diagnostics;

namespace FastProxy.Core.Tests.Diagnostics;

public sealed class AccessLogWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-accesslog-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void WriteLine(AccessLogWriter writer, string text)
    {
        var line = writer.RentLine();
        Assert.NotNull(line);
        line.Append(Encoding.UTF8.GetBytes(text));
        writer.Commit(line);
    }

    [Fact]
    public async Task Commit_ManyThreads_EveryLineWrittenOnceAndWhole()
    {
        string path = Path.Combine(_dir, "access.log");
        const int Threads = 8, PerThread = 2000;
        var writer = new AccessLogWriter(path, bufferSize: 32 * 1024, flushInterval: TimeSpan.FromMilliseconds(50), lineBufferCount: 256);
        var tasks = new Task[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int id = t;
            tasks[t] = Task.Run(() =>
            {
                for (int i = 0; i < PerThread; i++)
                {
                    var line = writer.RentLine();
                    while (line is null)
                    {
                        // Under test the writer may lag: a dropped line is counted, so retry instead.
                        line = writer.RentLine();
                    }
                    line.Append(Encoding.ASCII.GetBytes($"t{id} n{i} 0123456789abcdef"));
                    writer.Commit(line);
                }
            });
        }
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
        await writer.DisposeAsync();

        var lines = File.ReadAllLines(path);
        Assert.Equal(Threads * PerThread, lines.Length);
        Assert.Equal(Threads * PerThread, new HashSet<string>(lines).Count);
        Assert.All(lines, l => Assert.EndsWith(" 0123456789abcdef", l));
        // Per producer, lines keep their order.
        for (int t = 0; t < Threads; t++)
        {
            var mine = lines.Where(l => l.StartsWith($"t{t} ", StringComparison.Ordinal)).Select(l => int.Parse(l.Split(' ')[1].AsSpan(1))).ToArray();
            Assert.Equal(Enumerable.Range(0, PerThread), mine);
        }
    }

    [Fact]
    public async Task Commit_NoBufferParameter_LineReachesFileWithoutDispose()
    {
        string path = Path.Combine(_dir, "unbuffered.log");
        await using var writer = new AccessLogWriter(path);
        WriteLine(writer, "first");
        string content = await WaitForContentAsync(path, "first\n");
        Assert.Equal("first\n", content);
    }

    [Fact]
    public async Task Reopen_AfterRename_NewLinesGoToNewFile()
    {
        string path = Path.Combine(_dir, "rotate.log");
        string rotated = Path.Combine(_dir, "rotate.log.1");
        await using var writer = new AccessLogWriter(path);
        WriteLine(writer, "before");
        await WaitForContentAsync(path, "before\n");
        File.Move(path, rotated);
        writer.Reopen();
        // The reopen is done by the writer thread before it writes the next line it dequeues.
        WriteLine(writer, "after");
        await WaitForContentAsync(path, "after\n");
        Assert.Equal("before\n", File.ReadAllText(rotated));
    }

    [Fact]
    public async Task Append_LineLongerThanBuffer_CutAndTerminated()
    {
        string path = Path.Combine(_dir, "long.log");
        var writer = new AccessLogWriter(path);
        var line = writer.RentLine()!;
        line.Append(new string('x', AccessLogWriter.MaxLineLength * 2).AsSpan());
        writer.Commit(line);
        await writer.DisposeAsync();
        var text = File.ReadAllText(path);
        Assert.Equal(AccessLogWriter.MaxLineLength, text.Length);
        Assert.EndsWith("x\n", text);
    }

    [Fact]
    public void BoundedQueue_FillAndDrain_FifoAndBounded()
    {
        var queue = new BoundedQueue<string>(4);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(queue.TryEnqueue(i.ToString()));
        }
        Assert.False(queue.TryEnqueue("full"));
        for (int i = 0; i < 4; i++)
        {
            Assert.True(queue.TryDequeue(out var item));
            Assert.Equal(i.ToString(), item);
        }
        Assert.False(queue.TryDequeue(out _));
    }

    private static async Task<string> WaitForContentAsync(string path, string expectedSuffix)
    {
        // Poll the file system (the writer has no completion signal by design); bounded.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(path))
            {
                string content = File.ReadAllText(path);
                if (content.EndsWith(expectedSuffix, StringComparison.Ordinal))
                {
                    return content;
                }
            }
            await Task.Delay(10);
        }
        throw new TimeoutException($"{path} never ended with {expectedSuffix.Trim()}");
    }
}
