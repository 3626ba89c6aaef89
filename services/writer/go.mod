module github.com/instachat/instachat/services/writer

go 1.26.8
