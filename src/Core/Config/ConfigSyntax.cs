using System.Text;

namespace FastProxy.Config;

/// <summary>One directive as read from a file: its name, arguments (quotes and escapes already resolved) and block.</summary>
internal sealed class ConfDirective
{
    public ConfDirective(string name, IReadOnlyList<string> args, string file, int line)
    {
        Name = name;
        Args = args;
        File = file;
        Line = line;
    }

    public string Name { get; }

    /// <summary>The arguments after the name.</summary>
    public IReadOnlyList<string> Args { get; }

    /// <summary>The directives inside <c>{ }</c>, null when the directive ended with <c>;</c>.</summary>
    public List<ConfDirective>? Block { get; set; }

    public string File { get; }

    public int Line { get; }

    public string Location => $"{File}:{Line}";
}

/// <summary>A file read while loading, kept for <see cref="NginxConfigLoader.Dump"/> (nginx -T).</summary>
public sealed record ConfigSourceFile(string Path, string Text);

/// <summary>
/// nginx's configuration grammar (ngx_conf_read_token / ngx_conf_parse): words separated by white space, directives
/// ended by ";" or a "{ }" block, "#" comments where a word may start, single and double quotes, backslash escapes
/// (\" \' \\ \t \r \n; any other "\x" keeps both characters), "${name}" kept inside a word. <c>include</c> is expanded
/// while reading, as nginx does, so an included file may hold directives for any context.
/// </summary>
internal sealed class ConfParser
{
    private readonly List<ConfigDiagnostic> _diagnostics;
    private readonly List<ConfigSourceFile> _files;
    private readonly string _confPrefix;
    private readonly HashSet<string> _including = new(StringComparer.Ordinal);

    private ConfParser(string confPrefix, List<ConfigDiagnostic> diagnostics, List<ConfigSourceFile> files)
    {
        _confPrefix = confPrefix;
        _diagnostics = diagnostics;
        _files = files;
    }

    /// <summary>
    /// Parses <paramref name="text"/> of <paramref name="fileName"/>. Relative include paths are resolved against
    /// <paramref name="confPrefix"/>: nginx resolves them against the directory of the main configuration file
    /// (cycle->conf_prefix), whichever file the include is in.
    /// </summary>
    public static List<ConfDirective> Parse(string text, string fileName, string confPrefix,
        List<ConfigDiagnostic> diagnostics, List<ConfigSourceFile> files)
    {
        var parser = new ConfParser(confPrefix, diagnostics, files);
        files.Add(new ConfigSourceFile(fileName, text));
        parser._including.Add(fileName);
        return parser.ParseFile(text, fileName);
    }

    private List<ConfDirective> ParseFile(string text, string fileName)
    {
        var lexer = new Lexer(text, fileName, _diagnostics);
        var result = new List<ConfDirective>();
        ParseBlock(ref lexer, result, inBlock: false);
        return result;
    }

    /// <summary>Reads directives until "}" (inBlock) or the end of the file. Returns false at a fatal error.</summary>
    private bool ParseBlock(ref Lexer lexer, List<ConfDirective> into, bool inBlock)
    {
        var args = new List<string>();
        for (;;)
        {
            args.Clear();
            var result = lexer.ReadDirective(args);
            // nginx reports a directive at the line where its ";" or "{" is.
            int line = lexer.Line;
            switch (result)
            {
                case TokenResult.Fatal:
                    return false;

                case TokenResult.EndOfFile:
                    if (args.Count > 0)
                    {
                        Error(lexer.FileName, lexer.Line, "unexpected end of file, expecting \";\" or \"}\"");
                        return false;
                    }
                    if (inBlock)
                    {
                        Error(lexer.FileName, lexer.Line, "unexpected end of file, expecting \"}\"");
                        return false;
                    }
                    return true;

                case TokenResult.BlockEnd:
                    if (!inBlock)
                    {
                        // nginx stops here; we skip the stray "}" and read on to report what else is wrong.
                        Error(lexer.FileName, lexer.Line, "unexpected \"}\"");
                        continue;
                    }
                    return true;

                case TokenResult.DirectiveEnd:
                case TokenResult.BlockStart:
                    break;
            }

            var directive = new ConfDirective(args[0], args.GetRange(1, args.Count - 1), lexer.FileName, line);
            if (result == TokenResult.BlockStart)
            {
                directive.Block = [];
                if (!ParseBlock(ref lexer, directive.Block, inBlock: true))
                {
                    into.Add(directive);
                    return false;
                }
            }

            if (directive.Name == "include" && directive.Block is null && directive.Args.Count == 1)
            {
                Include(directive, into);
                continue;
            }
            into.Add(directive);
        }
    }

    /// <summary>ngx_conf_include: a plain path must exist; a pattern with * ? [ may match nothing.</summary>
    private void Include(ConfDirective directive, List<ConfDirective> into)
    {
        string pattern = directive.Args[0];
        string full = Path.IsPathRooted(pattern) ? pattern : Path.Combine(_confPrefix, pattern);
        if (pattern.AsSpan().IndexOfAny("*?[") < 0)
        {
            IncludeFile(directive, full, into);
            return;
        }
        foreach (var file in Glob.Match(full))
        {
            IncludeFile(directive, file, into);
        }
    }

    private void IncludeFile(ConfDirective directive, string path, List<ConfDirective> into)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "2: No such file or directory",
                UnauthorizedAccessException => "13: Permission denied",
                _ => e.Message,
            };
            Error(directive.File, directive.Line, $"open() \"{path}\" failed ({reason})");
            return;
        }
        if (!_including.Add(path))
        {
            // nginx would recurse until it runs out of file descriptors; say what is wrong instead.
            Error(directive.File, directive.Line, $"\"{path}\" includes itself");
            return;
        }
        _files.Add(new ConfigSourceFile(path, text));
        into.AddRange(ParseFile(text, path));
        _including.Remove(path);
    }

    private void Error(string file, int line, string message) => _diagnostics.Add(new ConfigDiagnostic(file, line, message, true));

    private enum TokenResult { DirectiveEnd, BlockStart, BlockEnd, EndOfFile, Fatal }

    private struct Lexer
    {
        private readonly string _text;
        private readonly List<ConfigDiagnostic> _diagnostics;
        private int _pos;

        public Lexer(string text, string fileName, List<ConfigDiagnostic> diagnostics)
        {
            _text = text;
            FileName = fileName;
            _diagnostics = diagnostics;
            Line = 1;
        }

        public string FileName { get; }

        public int Line { get; private set; }

        /// <summary>Reads the words of one directive up to ";", "{" or "}" (ngx_conf_read_token).</summary>
        public TokenResult ReadDirective(List<string> args)
        {
            while (true)
            {
                // Skip white space and comments between words.
                while (_pos < _text.Length)
                {
                    char c = _text[_pos];
                    if (c == '\n')
                    {
                        Line++;
                        _pos++;
                    }
                    else if (c is ' ' or '\t' or '\r')
                    {
                        _pos++;
                    }
                    else if (c == '#')
                    {
                        while (_pos < _text.Length && _text[_pos] != '\n')
                        {
                            _pos++;
                        }
                    }
                    else
                    {
                        break;
                    }
                }
                if (_pos >= _text.Length)
                {
                    return TokenResult.EndOfFile;
                }
                char ch = _text[_pos];
                if (ch is ';' or '{')
                {
                    _pos++;
                    if (args.Count == 0)
                    {
                        Error($"unexpected \"{ch}\"");
                        if (ch == '{')
                        {
                            return TokenResult.Fatal;
                        }
                        // A stray ";" is harmless: read on to report what else is wrong.
                        continue;
                    }
                    return ch == '{' ? TokenResult.BlockStart : TokenResult.DirectiveEnd;
                }
                if (ch == '}')
                {
                    _pos++;
                    if (args.Count != 0)
                    {
                        Error("unexpected \"}\"");
                        return TokenResult.Fatal;
                    }
                    return TokenResult.BlockEnd;
                }
                var word = ReadWord(out var end);
                if (word is null)
                {
                    return TokenResult.Fatal;
                }
                args.Add(word);
                if (end is ';' or '{')
                {
                    return end == '{' ? TokenResult.BlockStart : TokenResult.DirectiveEnd;
                }
            }
        }

        /// <summary>Reads one word (quoted or not); <paramref name="end"/> is ';' or '{' when that ended it.</summary>
        private string? ReadWord(out char end)
        {
            end = '\0';
            char quote = _text[_pos] is '"' or '\'' ? _text[_pos] : '\0';
            int start = quote != '\0' ? _pos + 1 : _pos;
            int i = start;
            bool variable = false;
            while (true)
            {
                if (i >= _text.Length)
                {
                    _pos = i;
                    if (quote != '\0')
                    {
                        Error("unexpected end of file, expecting \";\" or \"}\"");
                        return null;
                    }
                    return Unescape(start, i);
                }
                char c = _text[i];
                if (c == '\n')
                {
                    Line++;
                }
                if (c == '\\' && i + 1 < _text.Length)
                {
                    if (_text[i + 1] == '\n')
                    {
                        Line++;
                    }
                    i += 2;
                    variable = false;
                    continue;
                }
                if (quote != '\0')
                {
                    if (c == quote)
                    {
                        var word = Unescape(start, i);
                        i++;
                        // After a closing quote nginx needs a space, ";" or "{" (need_space).
                        if (i < _text.Length)
                        {
                            char next = _text[i];
                            if (next is ';' or '{')
                            {
                                end = next;
                                i++;
                            }
                            else if (next is not (' ' or '\t' or '\r' or '\n'))
                            {
                                _pos = i;
                                Error($"unexpected \"{next}\"");
                                return null;
                            }
                        }
                        _pos = i;
                        return word;
                    }
                    i++;
                    continue;
                }
                if (c == '{' && variable)
                {
                    // "${name}" inside a word: the brace belongs to the word.
                    i++;
                    continue;
                }
                variable = c == '$';
                if (c is ' ' or '\t' or '\r' or '\n' or ';' or '{')
                {
                    var word = Unescape(start, i);
                    if (c is ';' or '{')
                    {
                        end = c;
                    }
                    else if (c == '\n')
                    {
                        // Counted above; the skip loop must not count it twice.
                        Line--;
                    }
                    _pos = c is ';' or '{' ? i + 1 : i;
                    return word;
                }
                i++;
            }
        }

        /// <summary>The escapes nginx resolves in every word: \" \' \\ become the character, \t \r \n control characters.</summary>
        private readonly string Unescape(int start, int end)
        {
            var span = _text.AsSpan(start, end - start);
            if (span.IndexOf('\\') < 0)
            {
                return span.ToString();
            }
            var sb = new StringBuilder(span.Length);
            for (int i = 0; i < span.Length; i++)
            {
                char c = span[i];
                if (c == '\\' && i + 1 < span.Length)
                {
                    switch (span[i + 1])
                    {
                        case '"' or '\'' or '\\':
                            sb.Append(span[i + 1]);
                            i++;
                            continue;
                        case 't':
                            sb.Append('\t');
                            i++;
                            continue;
                        case 'r':
                            sb.Append('\r');
                            i++;
                            continue;
                        case 'n':
                            sb.Append('\n');
                            i++;
                            continue;
                    }
                }
                sb.Append(c);
            }
            return sb.ToString();
        }

        private readonly void Error(string message) => _diagnostics.Add(new ConfigDiagnostic(FileName, Line, message, true));
    }
}

/// <summary>The subset of glob(3) nginx's include uses: * ? [...] in any path segment, results sorted, dot files skipped.</summary>
internal static class Glob
{
    public static IEnumerable<string> Match(string pattern)
    {
        string full = Path.GetFullPath(pattern);
        string root = Path.GetPathRoot(full) ?? "/";
        var segments = full.Substring(root.Length).Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = new List<string> { root };
        for (int s = 0; s < segments.Length; s++)
        {
            bool last = s == segments.Length - 1;
            string segment = segments[s];
            var next = new List<string>();
            foreach (var dir in current)
            {
                if (segment.AsSpan().IndexOfAny("*?[") < 0)
                {
                    string candidate = Path.Combine(dir, segment);
                    if (last ? File.Exists(candidate) || Directory.Exists(candidate) : Directory.Exists(candidate))
                    {
                        next.Add(candidate);
                    }
                    continue;
                }
                if (!Directory.Exists(dir))
                {
                    continue;
                }
                IEnumerable<string> entries;
                try
                {
                    entries = last ? Directory.EnumerateFileSystemEntries(dir) : Directory.EnumerateDirectories(dir);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    continue;
                }
                foreach (var entry in entries)
                {
                    string name = Path.GetFileName(entry);
                    if (name.StartsWith('.') && segment[0] != '.')
                    {
                        continue;
                    }
                    if (IsMatch(segment, name))
                    {
                        next.Add(entry);
                    }
                }
            }
            next.Sort(StringComparer.Ordinal);
            current = next;
        }
        // glob(3) sorts the full paths (strcmp in the C locale nginx runs in).
        return current.Where(File.Exists).Order(StringComparer.Ordinal);
    }

    /// <summary>fnmatch without flags: * any run, ? one character, [abc] [a-z] [!x] classes.</summary>
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        int p = 0, n = 0, starP = -1, starN = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length)
            {
                char pc = pattern[p];
                if (pc == '*')
                {
                    starP = p++;
                    starN = n;
                    continue;
                }
                if (pc == '?')
                {
                    p++;
                    n++;
                    continue;
                }
                if (pc == '[')
                {
                    int close = ClassEnd(pattern, p);
                    if (close > 0)
                    {
                        if (ClassMatches(pattern.Slice(p + 1, close - p - 1), name[n]))
                        {
                            p = close + 1;
                            n++;
                            continue;
                        }
                    }
                    else if (name[n] == '[')
                    {
                        p++;
                        n++;
                        continue;
                    }
                }
                else if (pc == name[n])
                {
                    p++;
                    n++;
                    continue;
                }
            }
            if (starP < 0)
            {
                return false;
            }
            p = starP + 1;
            n = ++starN;
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    private static int ClassEnd(ReadOnlySpan<char> pattern, int open)
    {
        int i = open + 1;
        if (i < pattern.Length && pattern[i] == '!')
        {
            i++;
        }
        if (i < pattern.Length && pattern[i] == ']')
        {
            i++;
        }
        for (; i < pattern.Length; i++)
        {
            if (pattern[i] == ']')
            {
                return i;
            }
        }
        return -1;
    }

    private static bool ClassMatches(ReadOnlySpan<char> cls, char c)
    {
        bool negate = cls.Length > 0 && cls[0] == '!';
        if (negate)
        {
            cls = cls.Slice(1);
        }
        bool match = false;
        for (int i = 0; i < cls.Length; i++)
        {
            if (i + 2 < cls.Length && cls[i + 1] == '-')
            {
                if (c >= cls[i] && c <= cls[i + 2])
                {
                    match = true;
                }
                i += 2;
            }
            else if (cls[i] == c)
            {
                match = true;
            }
        }
        return match != negate;
    }
}
